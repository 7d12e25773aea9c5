"""`ocr serve`: the HTTP service under uvicorn, with a graceful SIGTERM drain.

On SIGTERM (or Ctrl-C): /readyz turns 503 at once; after ``OCR_SHUTDOWN_DELAY_S`` (time for a
load balancer to stop routing here; requests arriving meanwhile are still served) the listener
closes, accepted requests finish (at most ``OCR_DRAIN_TIMEOUT_S``), the batch queues drain and
the process exits. A second Ctrl-C forces the exit. Whatever still runs then (a thread cannot be
stopped: a decode, an engine call), the process is gone ``OCR_SHUTDOWN_DELAY_S +
OCR_DRAIN_TIMEOUT_S + STOP_GRACE_S`` after the signal: a watchdog exits it (code 1, logged).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import click
import uvicorn

from service.api.app import create_app
from service.api.connections import with_header_timeout
from service.logs import configure
from service.runtime.runtime import Runtime
from service.settings import get_settings

log = logging.getLogger(__name__)
MAX_HEADER_BYTES = 16 * 1024  # a request's line and headers; more is a 400
STOP_GRACE_S = 2.0  # after the drain deadline: cancelled requests unwind, queues close


def _watchdog(after_s: float) -> None:
    """Exit the process ``after_s`` from now, whatever is still running."""

    def expire() -> None:
        log.error("drain deadline passed %.1f s after the signal: exiting now", after_s)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(after_s, expire)
    timer.daemon = True
    timer.start()


class DrainingServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, runtime: Runtime, delay_s: float, drain_s: float
    ) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.delay_s = delay_s
        self.drain_s = drain_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:  # a second signal: no more waiting
            super().handle_exit(sig, frame)
            return
        self._draining = True
        log.info("signal %s: draining", signal.Signals(sig).name)
        self.runtime.begin_drain()
        if self.drain_s > 0:  # 0: uvicorn waits for requests without a limit, so do we
            _watchdog(self.delay_s + self.drain_s + STOP_GRACE_S)
        if self.delay_s <= 0:
            super().handle_exit(sig, frame)
            return
        # uvicorn's main loop polls ``should_exit`` every 0.1 s: a timer thread may set it
        timer = threading.Timer(self.delay_s, uvicorn.Server.handle_exit, (self, sig, frame))
        timer.daemon = True
        timer.start()


@click.command()
@click.option("--host", default=None, help="Listen address [OCR_HOST].")
@click.option("--port", type=int, default=None, help="Listen port [OCR_PORT].")
def serve(host: str | None, port: int | None) -> None:
    """Run the HTTP API (POST /v1/ocr, /v1/ocr/batch, GET /v1/models, /livez, /readyz, /metrics)."""
    s = get_settings()
    configure(s.log_json, s.log_level)
    app = create_app(s)
    config = uvicorn.Config(
        app,
        host=host or s.host,
        port=port or s.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(s.drain_timeout_s) or None,
        lifespan="on",
        # slow or idle clients (issue 16); request bodies: api/uploads.py
        http=with_header_timeout(s.header_timeout_s),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_keep_alive=s.keepalive_timeout_s,
        limit_concurrency=s.max_connections,
    )
    DrainingServer(config, app.state.runtime, s.shutdown_delay_s, s.drain_timeout_s).run()
