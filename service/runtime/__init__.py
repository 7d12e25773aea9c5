"""Serving runtime: the batched pipeline, result cache + single flight, admission, lifecycle."""
