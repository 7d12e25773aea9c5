"""Cross-request dynamic batching: a pure policy (policy.py) and its async shell (batcher.py)."""
