"""URL allow-lists: the only way the service talks to an address a client names (job
callbacks, `/ocr`'s `file` URLs). Empty = nothing allowed, the default.

A prefix matches at a path boundary: ``https://hooks.example.com`` allows
``https://hooks.example.com/ocr`` but not ``https://hooks.example.com.evil.net/``; only http and
https.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class UrlAllowList:
    def __init__(self, prefixes: str) -> None:
        self.prefixes = tuple(p.strip() for p in prefixes.split(",") if p.strip())

    def allows(self, url: str) -> bool:
        if urlsplit(url).scheme not in ("http", "https"):
            return False
        return any(url == p or url.startswith(p.rstrip("/") + "/") for p in self.prefixes)
