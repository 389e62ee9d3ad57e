"""Known-truth campaigns: frames whose emotion is known by construction, sent through the
real upload API, Celery workers and PostgreSQL, and the dashboard's numbers held against the truth.

- `python -m tests.known_truth --faces-dir DIR` (see __main__.py for what it needs): the benchmark
  on real labelled faces, printed as a table and JSON.
- `campaign`: plan, upload, wait, read the dashboard as a researcher, report (shared with
  tests/test_known_truth.py, which does the same with a small generated set and a generated model).
- `frames`: labelled faces into webcam-like JPEGs, and the workers' crop of them.
"""
