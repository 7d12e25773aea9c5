"""Asynchronous jobs (issue 13): documents too large for one HTTP request, read page by page.

A job is its pages as separate tasks in a store (``store.py``): in-process by default
(``memory.py``), or in Redis when ``OCR_REDIS_URL`` is set (``redis_store.py``), where every
replica takes pages from one Redis Streams consumer group and a dead replica's pages are claimed
by another. ``worker.py`` reads the pages through the runtime's batchers behind interactive
requests; ``jobs.py`` is what the API calls (submit with limits and idempotency, status,
result, cancel).
"""
