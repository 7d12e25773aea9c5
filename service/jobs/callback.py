"""Completion callbacks (webhooks), only to allow-listed URLs.

Off by default: with an empty ``OCR_JOB_CALLBACK_ALLOW`` every callback URL is refused at
submission, so the service never posts to an address a client chose (a server-side request
forgery vector); matching: service/allowlist.py. Redirects are not followed. One attempt,
bounded by ``timeout_s``: the client can always poll instead.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from service.allowlist import UrlAllowList
from service.jobs.errors import CallbackRefused

log = logging.getLogger(__name__)


class Callbacks:
    def __init__(self, allow: str, timeout_s: float = 5.0) -> None:
        self.allow = UrlAllowList(allow)
        self.timeout_s = timeout_s

    def allowed(self, url: str) -> bool:
        return self.allow.allows(url)

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
