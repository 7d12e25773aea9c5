"""Hostile requests against a real `ocr serve` (tests/hostile/conftest.py): nothing a client
sends gets a 5xx, and /livez keeps answering within 1 s throughout."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.hostile.conftest import KEY, Client, server_log
from tests.support.api import RECEIPT
from tests.support.payloads import (
    DEEP_JSON,
    INTERNALS,
    NOT_IMAGES,
    SVG,
    b64,
    bmp_with_width_zero,
    sent_as,
)
from tests.support.server import ServeProcess

pytestmark = pytest.mark.hostile

PNG = RECEIPT.read_bytes()
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+: ")


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def test_deep_json_is_422(client: Client) -> None:
    json_body: Any = {"content": DEEP_JSON, "headers": {"content-type": "application/json"}}
    options: Any = {"files": {"file": ("r.png", PNG, "image/png"), "options": (None, DEEP_JSON)}}
    for route in ("/v1/ocr", "/v1/ocr/batch"):
        assert code(client.post(route, **json_body)) == (422, "INVALID_REQUEST")
        assert code(client.post(route, **options)) == (422, "INVALID_REQUEST")


def test_a_bad_batch_item_fails_alone(client: Client) -> None:
    images = [b64(PNG), "%%% not base64", b64(SVG), b64(bmp_with_width_zero())]
    r = client.post("/v1/ocr/batch", json={"images": images})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["result"]["lines"]
    errors = [x["error"] for x in results[1:]]
    assert [e["code"] for e in errors] == [
        "INVALID_REQUEST",
        "UNSUPPORTED_MEDIA_TYPE",
        "INVALID_IMAGE",
    ]
    assert not any(INTERNALS.search(e["message"]) for e in errors)


def test_too_many_files_and_not_images(client: Client) -> None:
    files = [("files", (f"{i}.png", PNG, "image/png")) for i in range(6)]
    assert code(client.post("/v1/ocr/batch", files=files)) == (413, "TOO_MANY_IMAGES")
    for data in NOT_IMAGES.values():
        for how in ("raw", "multipart", "base64"):
            sent: Any = sent_as(how, data)
            assert code(client.post("/v1/ocr", **sent)) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_keys(server: ServeProcess) -> None:
    nobody, stranger = Client(server.url, key=None), Client(server.url, key="not-the-key-9d2e")
    assert code(nobody.get("/v1/models")) == (401, "UNAUTHENTICATED")
    assert code(stranger.post("/v1/ocr", content=PNG)) == (403, "FORBIDDEN")
    bearer = nobody.get("/v1/models", headers={"authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200
    for path in ("/livez", "/readyz", "/metrics"):
        assert nobody.get(path).status_code == 200


def test_control_characters_never_start_a_log_line(client: Client, server: ServeProcess) -> None:
    forged = "/nope%0a2026-01-01 00:00:00,000 INFO forged: %1b[31mred%0d%e2%80%a8x"
    assert client.get(forged).status_code == 404
    tabbed = client.get("/v1/models", headers={"x-request-id": "a\tb"})
    assert re.fullmatch(r"[0-9a-f]{32}", tabbed.headers["x-request-id"])  # replaced, not logged
    log = server_log(server)
    assert "/nope\\n2026-01-01" in log and "\\x1b[31m" in log
    for line in log.splitlines():
        assert LOG_RECORD.match(line) or line.startswith("    "), repr(line)


def test_keys_are_never_logged(client: Client, server: ServeProcess) -> None:
    Client(server.url, key="wrong-key-3c1b77").get("/v1/models")
    client.get("/v1/models", headers={"authorization": f"Bearer {KEY}"})
    log = server_log(server)
    assert KEY not in log and "wrong-key-3c1b77" not in log
