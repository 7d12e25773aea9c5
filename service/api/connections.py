"""uvicorn's h11 protocol with a deadline for request headers.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but sets no limit on how
long a client may take over a request's headers: a connection that opens and sends nothing, or
sends half a request line and stalls (slowloris), is held for ever. Here each request's headers
must be complete within ``header_timeout_s`` of the connection opening, or of the first byte
after the previous response; otherwise the connection is closed. Bodies: api/uploads.py.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


class HeaderDeadlineProtocol(H11Protocol):
    header_timeout_s = 15.0  # with_header_timeout() makes a subclass with the configured value
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # headers complete: the request is on
            self._disarm()
        elif self._deadline is None:  # the first bytes of the next request
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.debug("no request headers in %g s: closing", self.header_timeout_s)
            self.transport.close()


def with_header_timeout(seconds: float) -> type[H11Protocol]:
    """The protocol class for uvicorn's ``http`` option."""
    return type("HeaderDeadlineH11", (HeaderDeadlineProtocol,), {"header_timeout_s": seconds})
