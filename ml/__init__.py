"""The training study as a reproducible pipeline: prepare, train, evaluate, register."""
