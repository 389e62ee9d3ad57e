"""Benchmarks run as modules (`python -m bench.<name>`), each printing one JSON object."""
