"""Slow and idle clients against a real `ocr serve` (header, body-chunk and keep-alive timeouts
of 1 s here): each is closed within the timeout (+ a margin) while the server goes on answering
others, and the connection cap refuses requests until the timeouts free it up."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import ENV, KEY, TIMEOUT_S, Client
from tests.support.api import RECEIPT
from tests.support.server import ServeProcess

pytestmark = pytest.mark.hostile

MARGIN_S = 1.5  # scheduling on 2 busy cores; a missing timeout would hold for WAIT_S
WAIT_S = 10.0
HEAD = f"POST /v1/ocr HTTP/1.1\r\nHost: t\r\nX-API-Key: {KEY}\r\nContent-Type: image/png\r\n"


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)


def closed_after(sock: socket.socket, started: float) -> tuple[float, bytes]:
    """Seconds from ``started`` until the server closed ``sock``, and what it sent first."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return float("inf"), received
    finally:
        sock.close()
    return time.monotonic() - started, received


def idle(port: int) -> tuple[float, bytes]:
    sock = connect(port)
    return closed_after(sock, time.monotonic())


def half_a_header(port: int) -> tuple[float, bytes]:
    sock = connect(port)
    sock.sendall(HEAD.encode()[:40])
    return closed_after(sock, time.monotonic())


def header_drip(port: int) -> tuple[float, bytes]:
    """Slowloris: a byte of headers every 0.2 s, never finishing them."""
    sock, start = connect(port), time.monotonic()
    try:
        for byte in HEAD.encode():
            sock.sendall(bytes([byte]))
            time.sleep(0.2)
    except OSError:
        pass
    return closed_after(sock, start)


def headers_then_stall(port: int) -> tuple[float, bytes]:
    sock = connect(port)
    sock.sendall(f"{HEAD}Content-Length: 5000\r\n\r\n".encode())
    return closed_after(sock, time.monotonic())


def part_of_a_body_then_stall(port: int) -> tuple[float, bytes]:
    sock = connect(port)
    sock.sendall(f"{HEAD}Content-Length: 5000\r\n\r\n".encode() + RECEIPT.read_bytes()[:1000])
    return closed_after(sock, time.monotonic())


def idle_after_a_response(port: int) -> tuple[float, bytes]:
    sock = connect(port)
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
    return closed_after(sock, time.monotonic())


SLOW: dict[str, Callable[[int], tuple[float, bytes]]] = {
    "idle": idle,
    "half a header": half_a_header,
    "header drip": header_drip,
    "headers then stall": headers_then_stall,
    "part of a body then stall": part_of_a_body_then_stall,
    "idle after a response": idle_after_a_response,
}


def test_slow_clients_are_closed_in_time_while_others_are_served(server: ServeProcess) -> None:
    with ThreadPoolExecutor(len(SLOW) * 2) as pool:
        futures = {
            f"{name} #{i}": pool.submit(slow, server.port)
            for name, slow in SLOW.items()
            for i in (1, 2)
        }
        time.sleep(0.3)
        ocr = Client(server.url).post("/v1/ocr", files={"file": ("r.png", RECEIPT.read_bytes())})
        outcomes = {name: f.result() for name, f in futures.items()}
    assert ocr.status_code == 200, ocr.text
    for name, (took, first) in outcomes.items():
        assert TIMEOUT_S * 0.8 <= took <= TIMEOUT_S + MARGIN_S, f"{name}: closed after {took:.2f} s"
        if "body" in name or "headers then" in name:
            assert first.startswith(b"HTTP/1.1 408 "), f"{name}: {first[:80]!r}"


def test_the_connection_cap_refuses_until_timeouts_free_it(tmp_path: Path) -> None:
    env = {**ENV, "OCR_MAX_CONNECTIONS": "4"}
    with ServeProcess(tmp_path / "server.log", env, clean_env=True) as srv:
        idlers = [connect(srv.port) for _ in range(4)]
        try:
            refused = httpx.get(f"{srv.url}/livez", timeout=5)
            assert refused.status_code == 503
            time.sleep(TIMEOUT_S + 0.5)  # the idle connections are closed: room again
            assert httpx.get(f"{srv.url}/livez", timeout=5).status_code == 200
        finally:
            for sock in idlers:
                sock.close()
