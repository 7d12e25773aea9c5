"""Request bodies in flight, bounded: a pure-ASGI middleware.

- at most ``max_uploads`` bodies are being received at once (OCR_MAX_UPLOADS): each may hold up
  to the upload limit in memory until it is read, so more are refused at once with 429
  OVERLOADED (Retry-After), before a byte of the body is read;
- a client that stops sending its body for ``chunk_timeout_s`` (OCR_BODY_TIMEOUT_S) gets 408
  REQUEST_TIMEOUT and its connection is closed (api/errors.py adds ``Connection: close``).

Request headers and idle connections are bounded by the server (api/connections.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import BodyTimeout, ocr_error_response
from service.metrics import Metrics
from service.runtime.errors import Overloaded


class UploadGuard:
    def __init__(
        self, app: ASGIApp, max_uploads: int, chunk_timeout_s: float, metrics: Metrics
    ) -> None:
        self.app = app
        self.max_uploads = max_uploads
        self.chunk_timeout_s = chunk_timeout_s
        self.metrics = metrics
        self.receiving = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope["headers"]):
            await self.app(scope, receive, send)
            return
        if self.receiving >= self.max_uploads:
            exc = Overloaded(f"{self.receiving} uploads in progress (limit {self.max_uploads})")
            await ocr_error_response(exc, self.metrics)(scope, receive, send)
            return
        self.receiving += 1
        body = _Body(receive, self.chunk_timeout_s, self._done)
        try:
            await self.app(scope, body.receive, send)
        finally:
            body.finish()

    def _done(self) -> None:
        self.receiving -= 1


class _Body:
    """``receive`` with a time limit per chunk until the body is complete; ``on_finish`` runs
    once, when it is (or the request ends without it)."""

    def __init__(self, receive: Receive, timeout_s: float, on_finish: Callable[[], None]) -> None:
        self._receive = receive
        self.timeout_s = timeout_s
        self._on_finish: Callable[[], None] | None = on_finish

    async def receive(self) -> Message:
        if self._on_finish is None:
            return await self._receive()
        try:
            async with asyncio.timeout(self.timeout_s):
                message = await self._receive()
        except TimeoutError:
            self.finish()
            raise BodyTimeout(f"no request body data for {self.timeout_s:g} s") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.finish()
        return message

    def finish(self) -> None:
        if self._on_finish is not None:
            self._on_finish()
            self._on_finish = None


def has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        key = name.lower()
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() != b"0"):
            return True
    return False
