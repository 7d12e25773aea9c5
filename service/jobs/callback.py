"""Completion callbacks (webhooks), only to allow-listed URLs.

Off by default: with an empty ``OCR_JOB_CALLBACK_ALLOW`` every callback URL is refused at
submission, so the service never posts to an address a client chose (a server-side request
forgery vector). A prefix matches at a path boundary: ``https://hooks.example.com`` allows
``https://hooks.example.com/ocr`` but not ``https://hooks.example.com.evil.net/``. Redirects are
not followed. One attempt, bounded by ``timeout_s``: the client can always poll instead.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from service.jobs.errors import CallbackRefused

log = logging.getLogger(__name__)


class Callbacks:
    def __init__(self, allow: str, timeout_s: float = 5.0) -> None:
        self.prefixes = tuple(p.strip() for p in allow.split(",") if p.strip())
        self.timeout_s = timeout_s

    def allowed(self, url: str) -> bool:
        if urlsplit(url).scheme not in ("http", "https"):
            return False
        return any(url == p or url.startswith(p.rstrip("/") + "/") for p in self.prefixes)

    def check(self, url: str) -> None:
        """At submission: an empty URL (no callback) or an allowed one."""
        if url and not self.allowed(url):
            raise CallbackRefused(
                "callback URL not allowed: this server posts only to OCR_JOB_CALLBACK_ALLOW"
            )

    async def post(self, url: str, body: dict[str, Any]) -> None:
        if not self.allowed(url):  # re-checked: the allow-list may have changed since
            return
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as c:
                resp = await c.post(url, json=body)
            log.info("job %s callback answered %d", body.get("id"), resp.status_code)
        except httpx.HTTPError as exc:
            log.warning("job %s callback failed: %s", body.get("id"), type(exc).__name__)
