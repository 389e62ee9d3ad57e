"""Load run on demand: python -m tests.load --help (not collected by pytest)."""
