"""Hostile input and access (issue 16) on fake engines, in process: no 5xx from what a client
sends, per-item batch errors, one answer for "not an image", messages without internals, logs
that stay one line a record, API keys, quotas, cache partitions and upload limits. The same
cases against a real `ocr serve` (with slow clients): tests/hostile/."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner

from service.api.body import MAX_JSON_DEPTH, json_depth
from service.api.errors import public_message
from service.api.keys import KeyQuota, key_digest
from service.cli.main import cli
from service.logs import JsonFormatter, PlainFormatter
from tests.support.api import RECEIPT, assert_error, serving
from tests.support.fake_models import fake_loader
from tests.support.payloads import (
    DEEP_JSON,
    INTERNALS,
    NOT_IMAGES,
    SVG,
    b64,
    bmp_with_width_zero,
    sent_as,
)

pytestmark = pytest.mark.anyio

FAKE = fake_loader()
PNG = RECEIPT.read_bytes()
KEY_A, KEY_B = "key-a-7b1f0c2e9d", "key-b-40a8e6d1c3"
KEYS = f"{key_digest(KEY_A)},{key_digest(KEY_B)}"


# --- no 5xx from client input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),
        ('{"a": "\\"[[[", "b": [[]]}', 3),
        ('{"a": "\\\\", "b": [[]]}', 3),
        ("1", 0),
        ("[" * 2000 + "]" * 2000, 2000),
    ],
)
def test_json_depth_counts_structure_not_strings(doc: str, depth: int) -> None:
    assert json_depth(doc) == depth
    assert json_depth(doc.encode()) == depth


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": DEEP_JSON, "headers": {"content-type": "application/json"}},
        {"content": '{"image": ' + "[" * 100 + "]" * 100 + "}", "headers": {}},
        {"files": {"file": ("r.png", PNG, "image/png"), "options": (None, DEEP_JSON)}},
        {"files": {"file": ("r.png", PNG, "image/png"), "options": (None, '{"a":' * 65 + "1")}},
    ],
    ids=["body", "body-nested-field", "options-field", "options-65-objects"],
)
async def test_json_nested_too_deep_is_invalid_request(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("headers", {}).setdefault("content-type", "application/json")
    if "files" in kwargs:
        del kwargs["headers"]
    async with serving(FAKE) as (_, client):
        for route in ("/v1/ocr", "/v1/ocr/batch"):
            err = assert_error(await client.post(route, **kwargs), 422, "INVALID_REQUEST")
            assert f"deeper than {MAX_JSON_DEPTH}" in err["message"]


async def test_more_files_than_the_batch_limit_is_too_many_images() -> None:
    async with serving(FAKE, max_batch_images=2) as (_, client):
        for n in (3, 4, 20):
            files = [("files", (f"{i}.png", PNG, "image/png")) for i in range(n)]
            assert_error(await client.post("/v1/ocr/batch", files=files), 413, "TOO_MANY_IMAGES")
        three = [("file", (f"{i}.png", PNG, "image/png")) for i in range(3)]
        assert_error(await client.post("/v1/ocr", files=three), 413, "TOO_MANY_IMAGES")


async def test_a_bad_item_of_a_json_batch_fails_alone() -> None:
    images = [b64(PNG), "%%% not base64", b64(b"just some text"), b64(PNG + b"\0")]
    async with serving(FAKE) as (_, client):
        r = await client.post("/v1/ocr/batch", json={"images": images})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2, 3]
    assert results[0]["result"]["lines"] and results[3]["result"]["lines"]
    assert results[1]["error"]["code"] == "INVALID_REQUEST"
    assert results[2]["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_error_messages_carry_no_internals() -> None:
    async with serving(FAKE) as (_, client):
        raw = await client.post(
            "/v1/ocr", content=bmp_with_width_zero(), headers={"content-type": "image/bmp"}
        )
        batch = await client.post("/v1/ocr/batch", json={"images": [b64(bmp_with_width_zero())]})
    err = assert_error(raw, 422, "INVALID_IMAGE")
    assert not INTERNALS.search(err["message"]), err["message"]
    item = batch.json()["results"][0]["error"]
    assert item["code"] == "INVALID_IMAGE" and not INTERNALS.search(item["message"])


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        (
            "cannot identify image file <x._TrackedStream object at 0x7f857eb818a0>",
            "cannot identify image file",
        ),
        ('bad\nTraceback (most recent call last):\n  File "/x.py", line 1', "bad"),
        ("", "invalid request"),
        ("x" * 2000, "x" * 499 + "…"),
    ],
)
def test_public_message(message: str, shown: str) -> None:
    assert public_message(message) == shown


@pytest.mark.parametrize("how", ["raw", "multipart", "base64"])
@pytest.mark.parametrize("what", NOT_IMAGES)
async def test_not_an_image_is_415_however_it_is_sent(how: str, what: str) -> None:
    async with serving(FAKE) as (_, client):
        sent: Any = sent_as(how, NOT_IMAGES[what])
        assert_error(await client.post("/v1/ocr", **sent), 415, "UNSUPPORTED_MEDIA_TYPE")
        raw_svg = await client.post(
            "/v1/ocr", content=SVG, headers={"content-type": "image/svg+xml"}
        )
        assert_error(raw_svg, 415, "UNSUPPORTED_MEDIA_TYPE")


# --- logs: one line per record -------------------------------------------------------------


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("boom\n2026-01-01 00:00:00 INFO forged: line")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("service.access", logging.INFO, "x", 1, msg, args, info)


def test_plain_log_lines_escape_control_characters() -> None:
    path = "/nope\n2026-01-01 00:00:00 INFO forged: \x1b[31mred\r\u2028x\x85"
    line = PlainFormatter().format(_record("%s %s", "GET", path))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert len(line.splitlines()) == 1
    assert "/nope\\n2026" in line and "\\x1b[31m" in line and "\\u2028" in line
    lines = PlainFormatter().format(_record("failed", exc=True)).split("\n")
    assert not any(ln.startswith("2026") for ln in lines[1:])
    assert all(ln.startswith("    ") for ln in lines[1:])


def test_json_log_lines_stay_one_line() -> None:
    line = JsonFormatter().format(_record("%s", "/a\u2028b\x85c\nd"))
    assert len(line.splitlines()) == 1


# --- API keys, quotas, cache partitions ----------------------------------------------------


async def test_api_keys_guard_every_route_but_probes_and_metrics() -> None:
    async with serving(FAKE, api_keys=KEYS) as (_, client):
        missing = await client.post("/v1/ocr", content=PNG, headers={"content-type": "image/png"})
        assert_error(missing, 401, "UNAUTHENTICATED")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_error(await client.get("/v1/models"), 401, "UNAUTHENTICATED")
        wrong = await client.get("/v1/models", headers={"authorization": "Bearer nope"})
        assert_error(wrong, 403, "FORBIDDEN")
        assert_error(await client.get("/v1/models", headers={"x-api-key": "x"}), 403, "FORBIDDEN")
        for path in ("/livez", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200
        for headers in ({"authorization": f"Bearer {KEY_A}"}, {"x-api-key": KEY_B}):
            assert (await client.get("/v1/models", headers=headers)).status_code == 200


async def test_keys_off_by_default() -> None:
    async with serving(FAKE) as (_, client):
        assert (await client.get("/v1/models")).status_code == 200


async def test_the_result_cache_is_partitioned_per_key() -> None:
    async def cached(key: str) -> bool:
        headers = {"content-type": "image/png", "x-api-key": key}
        r = await client.post("/v1/ocr", content=PNG, headers=headers)
        assert r.status_code == 200, r.text
        return bool(r.json()["cached"])

    async with serving(FAKE, api_keys=KEYS) as (_, client):
        assert [await cached(KEY_A), await cached(KEY_A)] == [False, True]
        assert [await cached(KEY_B), await cached(KEY_B)] == [False, True]


async def test_a_key_over_its_quota_gets_429_with_retry_after() -> None:
    async with serving(FAKE, api_keys=KEYS, api_key_rate_per_min=2) as (_, client):
        a, b = {"x-api-key": KEY_A}, {"x-api-key": KEY_B}
        assert [(await client.get("/v1/models", headers=a)).status_code for _ in range(2)] == [
            200,
            200,
        ]
        over = await client.get("/v1/models", headers=a)
        assert_error(over, 429, "OVERLOADED")
        assert 1 <= int(over.headers["retry-after"]) <= 30
        assert (await client.get("/v1/models", headers=b)).status_code == 200  # its own quota


def test_key_quota_refills_at_its_rate() -> None:
    now = [0.0]
    quota = KeyQuota(60, clock=lambda: now[0])
    assert all(quota.take("k") == 0 for _ in range(60))
    assert quota.take("k") == pytest.approx(1.0)
    now[0] += 0.5
    assert quota.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert quota.take("k") == 0
    assert KeyQuota(0).take("k") == 0


async def test_keys_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(FAKE, api_keys=KEYS) as (_, client):
        await client.get("/v1/models", headers={"authorization": f"Bearer {KEY_A}"})
        await client.get("/v1/models", headers={"x-api-key": "wrong-key-5e7d"})
        await client.post(
            "/v1/ocr", content=PNG, headers={"content-type": "image/png", "x-api-key": KEY_B}
        )
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "service.access" in {r.name for r in caplog.records}
    for secret in (KEY_A, KEY_B, "wrong-key-5e7d"):
        assert secret not in logged


def test_keys_command_makes_and_hashes_keys() -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "new"])
    assert made.exit_code == 0, made.output
    key, digest = (line.split()[-1] for line in made.output.splitlines())
    hashed = runner.invoke(cli, ["keys", "hash"], input=key + "\n")
    assert hashed.exit_code == 0 and hashed.output.strip() == digest == key_digest(key)
    assert runner.invoke(cli, ["keys", "hash"], input="\n").exit_code == 2


def test_plaintext_keys_are_refused_as_configuration() -> None:
    from pydantic import ValidationError

    from tests.support.api import settings

    with pytest.raises(ValidationError):
        settings(api_keys="my-secret-key")
    assert settings(api_keys=KEYS.upper()).api_keys


# --- request bodies in flight --------------------------------------------------------------


async def _stalled(first: bytes, hold: asyncio.Event) -> AsyncIterator[bytes]:
    yield first
    await hold.wait()
    yield b""


async def test_uploads_over_the_limit_are_refused_and_a_stalled_body_times_out() -> None:
    hold = asyncio.Event()
    async with serving(FAKE, max_uploads=1, body_timeout_s=0.3) as (_, client):
        headers = {"content-type": "image/png"}
        stalled = asyncio.create_task(
            client.post("/v1/ocr", content=_stalled(PNG[:100], hold), headers=headers)
        )
        await asyncio.sleep(0.1)  # its body is being received
        second = await client.post("/v1/ocr", content=PNG, headers=headers)
        assert_error(second, 429, "OVERLOADED")
        assert second.headers["retry-after"]
        timed_out = await asyncio.wait_for(stalled, 5)
        assert_error(timed_out, 408, "REQUEST_TIMEOUT")
        assert timed_out.headers["connection"] == "close"
        hold.set()
        assert (await client.post("/v1/ocr", content=PNG, headers=headers)).status_code == 200
