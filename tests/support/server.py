"""A real `ocr serve` process on a free loopback port, for tests that need real HTTP and real
signals (drain, fuzzing, load tests). ``ServeProcess`` starts it, waits for /readyz, and stops
it (SIGTERM, then SIGKILL after a timeout); its output goes to a log file for failure messages.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

OCR = Path(sys.executable).with_name("ocr")
MODEL_LOCATION = {
    "OCR_MODEL_DIR",
    "OCR_CATALOGUE",
    "OCR_MODEL_SOURCE_OVERRIDE",
    "OCR_VERIFY_MODELS",
}
DEFAULT_ENV = {"OCR_INTRA_OP_THREADS": "1", "OCR_CACHE_MEMORY_BYTES": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    def __init__(
        self,
        log: Path,
        env: dict[str, str] | None = None,
        clean_env: bool = False,
        cwd: Path | None = None,
        ready_timeout_s: float = 120.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        # clean_env: every OCR_* setting is the test's, except where the models are
        base = {
            k: v
            for k, v in os.environ.items()
            if not (clean_env and k.startswith("OCR_")) or k in MODEL_LOCATION
        }
        self.env = {**base, **DEFAULT_ENV, **(env or {})}
        self.cwd = cwd
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(OCR), "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ocr serve exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(
                    f"ocr serve not ready in {self.ready_timeout_s:g} s:\n{self.tail()}"
                )
            time.sleep(0.2)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if not self.alive:
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
