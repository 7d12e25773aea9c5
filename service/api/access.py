"""Tenancy and access (off while OCR_API_KEYS is empty): a pure-ASGI middleware.

Every route but ``OPEN_PATHS`` and the UI's static files needs a key, as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``: none -> 401 UNAUTHENTICATED, one whose
digest is not configured -> 403 FORBIDDEN, over its quota (OCR_API_KEY_RATE_PER_MIN) -> 429
OVERLOADED with Retry-After; all before the body is read. The key's id goes to
``scope["state"]["tenant"]``: the routes pass it to the runtime, which partitions the result
cache by it. Keys are never logged or echoed.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.errors import Forbidden, Unauthenticated, ocr_error_response
from service.api.keys import KeyQuota, key_digest, key_id
from service.metrics import Metrics
from service.ocr.errors import OcrError
from service.runtime.errors import Overloaded

OPEN_PATHS = frozenset({"/livez", "/readyz", "/metrics", "/"})  # probes, scrapes, the UI page
OPEN_PREFIXES = ("/ui/",)  # the UI's static files: the page asks for a key, then sends it


class Access:
    def __init__(
        self, app: ASGIApp, digests: frozenset[str], per_min: int, metrics: Metrics
    ) -> None:
        self.app = app
        self.digests = digests
        self.quota = KeyQuota(per_min)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.digests or _open(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            tenant = self._admit(presented_key(scope["headers"]))
        except OcrError as exc:
            await ocr_error_response(exc, self.metrics)(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        await self.app(scope, receive, send)

    def _admit(self, key: str) -> str:
        if not key:
            raise Unauthenticated(
                "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>"
            )
        digest = key_digest(key)
        if digest not in self.digests:
            raise Forbidden("the API key is not accepted")
        tenant = key_id(digest)
        wait = self.quota.take(tenant)
        if wait > 0:
            raise Overloaded(
                f"the API key is over its quota of {self.quota.per_min} requests a minute",
                retry_after_s=max(1, math.ceil(wait)),
            )
        return tenant


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def presented_key(headers: list[tuple[bytes, bytes]]) -> str:
    """The key from ``Authorization: Bearer`` (first) or ``X-API-Key``; "" when none."""
    found = {k.lower(): v.decode("latin-1").strip() for k, v in headers}
    scheme, _, token = found.get(b"authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return found.get(b"x-api-key", "")


def tenant_of(request: Request) -> str:
    """The API key's id this middleware put on the request, or "" where no keys are configured."""
    return str(request.scope.get("state", {}).get("tenant", ""))
