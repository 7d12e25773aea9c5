"""One pure-ASGI middleware for every HTTP request (pure ASGI, so request.is_disconnected and
streaming keep working):

- request id: taken from ``X-Request-ID`` when it is sane, else generated; echoed back; set in
  the logging context;
- body limit: ``Content-Length`` over the limit is refused before reading; a chunked body is
  counted as it streams and cut off at the limit (413 PAYLOAD_TOO_LARGE);
- metrics: latency by route template and status, requests in flight; one access log line (with
  the API key's id where api/access.py found one);
- last line of defence: an exception nothing else handled becomes a JSON 500 (INTERNAL).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.logs import request_id
from service.metrics import Metrics
from service.ocr.errors import PayloadTooLarge

log = logging.getLogger("service.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics, body_limit: Callable[[str], int]) -> None:
        self.app = app
        self.metrics = metrics
        self.body_limit = body_limit  # path -> max body bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        status = {"code": 500, "started": False}
        route_label = _route_label(scope)
        self.metrics.in_flight.labels(route_label).inc()

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        limit = self.body_limit(scope["path"])
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        try:
            if length > limit:
                await _send_error(send_wrapped, "PAYLOAD_TOO_LARGE", _too_big(limit), self.metrics)
            else:
                await self.app(scope, _limited(receive, limit), send_wrapped)
        except Exception as exc:
            if isinstance(exc, PayloadTooLarge) and not status["started"]:
                await _send_error(send_wrapped, "PAYLOAD_TOO_LARGE", exc.message, self.metrics)
            else:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if not status["started"]:
                    await _send_error(
                        send_wrapped, "INTERNAL", "internal error; see the server log", self.metrics
                    )
        finally:
            elapsed = time.perf_counter() - start
            route = _route_label(scope) if route_label == "other" else route_label
            self.metrics.in_flight.labels(route_label).dec()
            code = str(status["code"])
            self.metrics.http_requests.labels(route, scope["method"], code).inc()
            self.metrics.http_latency.labels(route, code).observe(elapsed)
            if route not in ("/metrics", "/livez", "/readyz"):
                log.info(
                    "%s %s %s %.1f ms",
                    scope["method"],
                    scope["path"],
                    code,
                    elapsed * 1000,
                    extra={
                        "status": status["code"],
                        "duration_ms": round(elapsed * 1000, 2),
                        "key_id": scope.get("state", {}).get("tenant", "-"),  # never the key
                    },
                )
            request_id.reset(token)


KNOWN_ROUTES = (
    "/v1/ocr",
    "/v1/ocr/batch",
    "/v1/models",
    "/v1/jobs",
    "/v1/jobs/{job_id}",
    "/v1/jobs/{job_id}/result",
    "/ocr",
    "/livez",
    "/readyz",
    "/metrics",
)


def _route_label(scope: Scope) -> str:
    """A bounded label: a known route template, or "other" (never the raw path)."""
    route = scope.get("route")
    path = getattr(route, "path", None) or scope.get("path", "")
    return path if path in KNOWN_ROUTES or path in ("/docs", "/openapi.json") else "other"


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(_too_big(limit))
        return message

    return wrapped


def _too_big(limit: int) -> str:
    return f"request body over the {limit} byte limit"


async def _send_error(send: Send, code: str, message: str, metrics: Metrics) -> None:
    resp = error_response(code, message, metrics)
    await resp({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
