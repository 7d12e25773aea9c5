"""Fuzzing the HTTP API: nothing a client sends may produce a 5xx or take the process down.

One real server (``ocr serve`` in a subprocess: real uvicorn, the real bundled models) serves the
whole module, so a crash anywhere, a segfault in a native decoder included, shows up as a dead
server instead of a dead test runner. Two layers hit it:

1. schemathesis, generated from the app's own ``/openapi.json``: every operation, positive and
   negative (schema-violating) data, checked with "not a server error" and the error shape;
2. hypothesis, aimed at the request readers and the image decoder: random and corrupted image
   bytes in every body form, random JSON documents, wrong and corrupt content types, random
   option values, malformed multipart bodies (~2,800 requests), plus fixed cases: empty bodies,
   decompression-bomb headers, oversized bodies, too many images, and a few valid but odd
   images and option values that do reach inference (1x16384, 16-bit, NaN floats, EXIF...).

Last, the server must still be up: /livez and /readyz 200, no 5xx in its own metrics, no
unhandled exception in its log, and a real OCR of samples/receipt.png still reads "TOTAL".

Every run sends the same requests (derandomized, no example database), so a CI failure
reproduces locally. ``FUZZ_SCALE=10`` multiplies the budgets for a longer run.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import ImageDraw
from prometheus_client.parser import text_string_to_metric_families
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.support.api import RECEIPT
from tests.support.server import ServeProcess

pytestmark = pytest.mark.integration

SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))

# The codes a client's own mistake may produce (errors.py STATUS); anything else on a 4xx is a bug.
CLIENT_ERRORS = {
    "INVALID_IMAGE": 422,
    "INVALID_REQUEST": 422,
    "UNKNOWN_MODEL_SET": 422,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "PAYLOAD_TOO_LARGE": 413,
    "IMAGE_TOO_LARGE": 413,
    "TOO_MANY_IMAGES": 413,
    "INVALID_PDF": 422,
    "PDF_ENCRYPTED": 422,
    "TOO_MANY_PAGES": 413,
    "JOB_NOT_FOUND": 404,
    "JOB_NOT_FINISHED": 409,
    "IDEMPOTENCY_KEY_REUSED": 422,
}
ROUTES = ("/v1/ocr", "/v1/ocr/batch")

# The server's configuration: small limits so the limit paths are cheap to reach.
MAX_UPLOAD = 256 * 1024
MAX_BATCH_IMAGES = 4
SERVER_ENV = {
    "OCR_HOST": "127.0.0.1",
    "OCR_INTRA_OP_THREADS": "1",
    "OCR_CPU_WORKERS": "1",
    "OCR_LOG_LEVEL": "warning",
    "OCR_LOG_JSON": "true",
    "OCR_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
    "OCR_MAX_BATCH_BYTES": str(2 * MAX_UPLOAD),
    "OCR_MAX_BATCH_IMAGES": str(MAX_BATCH_IMAGES),
    "OCR_REQUEST_TIMEOUT_S": "120",  # a busy CI box must not turn a slow answer into a 504
    "OCR_DRAIN_TIMEOUT_S": "5",
    # jobs are accepted and never read (no CPU spent on them), and never refused for their number
    "OCR_JOB_WORKERS": "0",
    "OCR_JOB_MAX_QUEUED": "100000",
    "OCR_JOB_MAX_QUEUED_PER_CLIENT": "100000",
}
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)

SENT: Counter[str] = Counter()  # requests per test, printed by the last test
ANSWERS: Counter[str] = Counter()  # "422 INVALID_IMAGE", "200", ...: what the fuzzing reached


# -- the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("fuzz-server")  # cwd: no stray .env is read
    log = workdir / "server.log"
    with ServeProcess(log, SERVER_ENV, clean_env=True, cwd=workdir, ready_timeout_s=180) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ServeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


# -- checks ----------------------------------------------------------------------------------


def _describe(resp: httpx.Response) -> str:
    req = resp.request
    try:
        body = req.content
    except httpx.RequestNotRead:  # multipart and generator bodies stream
        body = b"<streamed>"
    return (
        f"{req.method} {req.url} content-type={req.headers.get('content-type')!r} "
        f"body[:200]={body[:200]!r} ({len(body)} bytes)\n"
        f"-> {resp.status_code} {resp.text[:500]}"
    )


def assert_error_shape(body: Any, status: int, request_id: str | None, context: str) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, context
    err = body["error"]
    assert set(err) == {"code", "message", "request_id"}, context
    assert err["code"] in CLIENT_ERRORS, context
    assert CLIENT_ERRORS[err["code"]] == status, context
    assert isinstance(err["message"], str) and err["message"], context
    if request_id is not None:
        assert err["request_id"] == request_id, context


def check(resp: httpx.Response, test: str) -> None:
    """No 5xx; a 4xx is the one error shape with a stable client-error code; a 200 is whole."""
    SENT[test] += 1
    context = _describe(resp)
    assert resp.status_code < 500, f"SERVER ERROR: {context}"
    if resp.status_code >= 400:
        try:
            body = resp.json()
        except ValueError:
            pytest.fail(f"error response is not JSON: {context}")
        assert_error_shape(body, resp.status_code, resp.headers.get("x-request-id"), context)
        ANSWERS[f"{resp.status_code} {body['error']['code']}"] += 1
        return
    assert resp.status_code == 200, context
    if resp.headers.get("content-type", "").startswith("text/plain"):
        ANSWERS["200 read"] += 1  # format=text
        return
    body = resp.json()
    if resp.request.url.path == "/v1/ocr/batch":
        for item in body["results"]:
            if item["error"] is not None:
                assert item["error"]["code"] in CLIENT_ERRORS, context
                ANSWERS[f"200 batch item {item['error']['code']}"] += 1
            else:
                assert isinstance(item["result"]["text"], str), context
                ANSWERS["200 batch item read"] += 1
    else:
        assert isinstance(body["text"], str) and isinstance(body["lines"], list), context
        ANSWERS["200 read"] += 1


# -- seed images (made here; no dataset files) -----------------------------------------------


def _seed(fmt: str) -> bytes:
    im = PILImage.new("RGB", (24, 16), "white")
    ImageDraw.Draw(im).text((2, 2), "A1", fill="black")
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


SEEDS = {fmt: _seed(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")}
MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"GIF87a",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"%PDF-1.7\n",
]


@st.composite
def corrupted_images(draw: st.DrawFn) -> bytes:
    """A real tiny image, truncated, with bytes overwritten, or with random bytes spliced in."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    how = draw(st.sampled_from(["truncate", "overwrite", "splice", "header-only"]))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how == "overwrite":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return bytes(data[:at]) + draw(st.binary(min_size=1, max_size=64)) + bytes(data[at:])
    return bytes(data[: draw(st.integers(8, 64))]) + draw(st.binary(max_size=256))


image_payloads = st.one_of(
    st.binary(max_size=1024),
    st.builds(lambda m, b: m + b, st.sampled_from(MAGICS), st.binary(max_size=512)),
    corrupted_images(),
)

# -- sending one image every way the API takes one -------------------------------------------

FORMS = ("multipart", "raw", "json", "json-data-url", "json-bad-b64")
RAW_TYPES = ("image/png", "image/jpeg", "image/x-whatever", "application/octet-stream", "image/")


def send_image(
    client: httpx.Client, route: str, form: str, data: bytes, raw_type: str = "image/png"
) -> Any:
    batch = route.endswith("batch")
    b64 = base64.b64encode(data).decode()
    if form == "multipart":
        field = "files" if batch else "file"
        return client.post(route, files={field: ("upload.bin", data, "image/png")})
    if form == "raw":
        return client.post(route, content=data, headers={"content-type": raw_type})
    encoded = {
        "json": b64,
        "json-data-url": f"data:image/png;base64,{b64}",
        "json-bad-b64": b64[: len(b64) // 2] + "!=\u00e9 " + b64[len(b64) // 2 :],
    }[form]
    doc = {"images": [encoded]} if batch else {"image": encoded}
    return client.post(route, json=doc)


# -- 1. schemathesis, from the app's own OpenAPI ---------------------------------------------
#
# Two runs over the same served schema. (schemathesis.pytest.from_fixture cannot be used here:
# schemathesis 4.32 reads Node._nodeid, which pytest 9 no longer has.)
#
# - In pytest, through the Python API: each operation's hypothesis strategy, positive and
#   negative, checked with schemathesis's not_a_server_error and the error shape below.
# - The schemathesis CLI in a subprocess: its whole pipeline (examples, coverage = boundary and
#   type-confusion cases per field, fuzzing), both modes, not_a_server_error; on a failure its
#   output carries a curl command that reproduces it.

OPERATIONS = [
    ("POST", "/v1/ocr"),
    ("POST", "/v1/ocr/batch"),
    ("GET", "/v1/models"),
    ("GET", "/livez"),
    ("GET", "/readyz"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs/{job_id}"),
    ("GET", "/v1/jobs/{job_id}/result"),
    ("DELETE", "/v1/jobs/{job_id}"),
    ("POST", "/ocr"),
]
SCHEMA_EXAMPLES = 150 * SCALE  # per operation and mode
CLI_EXAMPLES = 100 * SCALE  # per operation, in the CLI's fuzzing phase


@pytest.fixture(scope="module")
def openapi(server: ServeProcess) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=30)


def test_openapi_operations_are_all_fuzzed(openapi: Any) -> None:
    served = {(r.ok().method.upper(), r.ok().path) for r in openapi.get_all_operations()}
    assert served == set(OPERATIONS), "a new operation: add it to OPERATIONS"


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS]
    + [(m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if m == "POST"],  # GETs: no input
    ids=lambda v: v.value if isinstance(v, GenerationMode) else str(v),
)
def test_openapi_operation_never_5xx(
    openapi: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = openapi[path][method]

    @settings(FUZZ, max_examples=SCHEMA_EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        SENT["schemathesis"] += 1
        response = case.call(timeout=120)
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400 and path.startswith("/v1/"):
            context = (
                f"{case.method} {case.formatted_path} media_type={case.media_type!r} "
                f"body={str(case.body)[:300]} query={case.query} headers={case.headers}\n"
                f"-> {response.status_code} {response.content[:500]!r}"
            )
            try:
                body = response.json()
            except ValueError:
                pytest.fail(f"error response is not JSON: {context}")
            rid = response.headers.get("x-request-id", [None])[0]
            assert_error_shape(body, response.status_code, rid, context)

    run()


def test_schemathesis_cli_all_phases(server: ServeProcess, tmp_path: Path) -> None:
    cmd = [
        *[sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json"],
        *["--checks", "not_a_server_error", "--mode", "all", "--workers", "1"],
        *["--phases", "examples,coverage,fuzzing", "--max-examples", str(CLI_EXAMPLES)],
        *["--generation-deterministic"],  # fixed cases, no example database
        *["--continue-on-failure", "--request-timeout", "120", "--no-color"],
    ]
    # cwd: no schemathesis.toml of anyone else's is read, nothing is written into the repo
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"schemathesis found failures:\n{out[-12000:]}"
    generated = re.search(r"(\d+) generated", out)
    assert generated, out[-4000:]
    SENT["schemathesis-cli"] += int(generated[1])


# -- 2. hypothesis: malformed bodies ---------------------------------------------------------


@settings(FUZZ, max_examples=1200 * SCALE)
@given(
    data=image_payloads,
    route=st.sampled_from(ROUTES),
    form=st.sampled_from(FORMS),
    raw_type=st.sampled_from(RAW_TYPES),
)
def test_garbage_and_corrupted_images(
    client: httpx.Client, data: bytes, route: str, form: str, raw_type: str
) -> None:
    check(send_image(client, route, form, data, raw_type), "images")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
near_valid_docs = st.dictionaries(
    st.sampled_from(["image", "images", "options", "file", ""]) | st.text(max_size=8),
    json_values
    | st.builds(lambda b: base64.b64encode(b).decode(), image_payloads)
    | st.lists(st.builds(lambda b: base64.b64encode(b).decode(), st.binary(max_size=64))),
    max_size=4,
)


@settings(FUZZ, max_examples=400 * SCALE)
@given(
    doc=json_values | near_valid_docs,
    route=st.sampled_from(ROUTES),
    ctype=st.sampled_from(
        ["application/json", "application/problem+json", "application/json; x=1"]
    ),
    mangle=st.sampled_from(["none", "truncate", "non-utf8", "bom"]),
)
def test_random_json_documents(
    client: httpx.Client, doc: Any, route: str, ctype: str, mangle: str
) -> None:
    body = json.dumps(doc).encode()
    if mangle == "truncate":
        body = body[: len(body) // 2]
    elif mangle == "non-utf8":
        body = body.replace(b'"', b'"\xff', 1)
    elif mangle == "bom":
        body = b"\xef\xbb\xbf" + body
    check(client.post(route, content=body, headers={"content-type": ctype}), "json")


OPTION_NAMES = [
    "model_set",
    "det_limit_side_len",
    "det_limit_type",
    "det_thresh",
    "det_box_thresh",
    "det_unclip_ratio",
    "use_cls",
    "cls_thresh",
    "decoder",
    "beam_width",
    "drop_score",
    "format",
]
option_values = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()  # NaN and infinities included
    | st.text(max_size=70)
    | st.sampled_from(["max", "min", "beam", "greedy", "json", "text", "ppocr-v4-mobile", "1e309"])
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)
)
random_options = st.dictionaries(
    st.sampled_from(OPTION_NAMES) | st.text(max_size=12), option_values, max_size=4
)


def _query_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


@settings(FUZZ, max_examples=400 * SCALE)
@given(
    opts=random_options,
    route=st.sampled_from(ROUTES),
    channel=st.sampled_from(["json", "multipart", "query", "multipart-raw-string"]),
    raw_string=st.text(max_size=60),
)
def test_random_option_values(
    client: httpx.Client, opts: dict[str, Any], route: str, channel: str, raw_string: str
) -> None:
    # Not an image (text: 415 UNSUPPORTED_MEDIA_TYPE) or UNKNOWN_MODEL_SET: never inference.
    image = b"not an image"
    batch = route.endswith("batch")
    field = "files" if batch else "file"
    b64 = base64.b64encode(image).decode()
    if channel == "json":
        doc: dict[str, Any] = {"images": [b64]} if batch else {"image": b64}
        body = json.dumps({**doc, "options": opts}).encode()
        resp = client.post(route, content=body, headers={"content-type": "application/json"})
    elif channel == "query":
        params = {k: _query_value(v) for k, v in opts.items()}
        resp = client.post(
            route, params=params, content=image, headers={"content-type": "image/png"}
        )
    else:
        options = json.dumps(opts) if channel == "multipart" else raw_string
        resp = client.post(route, files={field: ("x.png", image)}, data={"options": options})
    check(resp, "options")


header_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)
content_types = st.one_of(
    st.sampled_from(
        [
            "",
            "text/plain",
            "text/html; charset=utf-8",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            'multipart/form-data; boundary=""',
            "multipart/form-data; boundary=abc",
            "multipart/mixed; boundary=abc",
            "application/x-www-form-urlencoded",
            "application/xml",
            "application/json; charset=utf-16",
            "application/pdf",
            "IMAGE/PNG",
            "image",
            ";",
            "*/*",
        ]
    ),
    header_text,
    st.builds(lambda t: f"multipart/form-data; boundary={t}", header_text),
    st.builds(lambda t: f"{t}/{t}; charset={t}", header_text),
)


# Any header value HTTP/1.1 can carry (no CR/LF/NUL, no edge whitespace), non-ASCII octets too.
header_octets = st.lists(
    st.sampled_from([bytes([b]) for b in [*range(0x21, 0x7F), *range(0x80, 0x100)]]),
    min_size=1,
    max_size=200,
).map(b"".join)


@settings(FUZZ, max_examples=300 * SCALE)
@given(
    ctype=content_types,
    body=st.binary(max_size=512) | image_payloads,
    route=st.sampled_from(ROUTES),
    request_id=st.none() | header_text | header_octets,
)
def test_wrong_and_corrupt_content_types(
    client: httpx.Client, ctype: str, body: bytes, route: str, request_id: str | bytes | None
) -> None:
    headers: dict[str, str | bytes] = {"content-type": ctype} if ctype else {}
    if request_id is not None:
        headers["x-request-id"] = request_id
    check(client.post(route, content=body, headers=headers), "content-types")


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A multipart body built by hand: random parts, names, headers; maybe broken framing."""
    boundary = draw(st.sampled_from(["b0undary", "x" * 70, "--", "a b"]))
    parts = []
    for _ in range(draw(st.integers(0, MAX_BATCH_IMAGES + 3))):
        name = draw(st.sampled_from(["file", "files", "options", "other", ""]) | header_text)
        disposition = f'form-data; name="{name}"'
        if draw(st.booleans()):
            disposition += f'; filename="{draw(header_text)}"'
        lines = [f"Content-Disposition: {disposition}"]
        if draw(st.booleans()):
            lines.append(f"Content-Type: {draw(content_types)}")
        if draw(st.integers(0, 9)) == 0:
            lines = [draw(header_text)]  # a corrupt part header
        head = "\r\n".join(lines).encode("latin-1")
        payload = draw(
            image_payloads
            | st.builds(lambda o: json.dumps(o).encode(), random_options)
            | st.text(max_size=40).map(str.encode)
        )
        parts.append(b"--" + boundary.encode() + b"\r\n" + head + b"\r\n\r\n" + payload + b"\r\n")
    body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
    framing = draw(st.sampled_from(["ok", "ok", "truncated", "no-final", "lf-only"]))
    if framing == "truncated":
        body = body[: draw(st.integers(0, len(body)))]
    elif framing == "no-final":
        body = b"".join(parts)
    elif framing == "lf-only":
        body = body.replace(b"\r\n", b"\n")
    return boundary, body


@settings(FUZZ, max_examples=500 * SCALE)
@given(mp=multipart_bodies(), route=st.sampled_from(ROUTES))
def test_malformed_multipart(client: httpx.Client, mp: tuple[str, bytes], route: str) -> None:
    boundary, body = mp
    quoted = f'"{boundary}"' if " " in boundary else boundary
    headers = {"content-type": f"multipart/form-data; boundary={quoted}"}
    check(client.post(route, content=body, headers=headers), "multipart")


# -- fixed cases: empty bodies, bombs, oversized bodies, too many images ---------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "ctype",
    [None, "image/png", "application/octet-stream", "application/json", "multipart/form-data"],
)
def test_empty_bodies(client: httpx.Client, route: str, ctype: str | None) -> None:
    headers = {"content-type": ctype} if ctype else {}
    resp = client.post(route, content=b"", headers=headers)
    check(resp, "fixed")
    if resp.status_code == 200:  # a batch fails item by item: one empty raw image
        assert route.endswith("batch"), _describe(resp)
        assert resp.json()["results"][0]["error"]["code"] == "INVALID_IMAGE"
    else:
        assert resp.status_code in (415, 422), _describe(resp)
    # and the three well-formed-but-empty forms
    batch = route.endswith("batch")
    check(client.post(route, json={"images": [""]} if batch else {"image": ""}), "fixed")
    check(client.post(route, files={"files" if batch else "file": ("e.png", b"")}), "fixed")


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _gif_header(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + frame + b";"


def _bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + info + b"\x00" * 64


def _jpeg_header(width: int, height: int) -> bytes:
    data = bytearray(SEEDS["JPEG"])
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _tiff_header(width: int, height: int) -> bytes:
    data = bytearray(SEEDS["TIFF"])
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, at)
        if tag in (256, 257):  # ImageWidth, ImageLength
            value = width if tag == 256 else height
            fmt = "<H" if kind == 3 else "<I"
            struct.pack_into(fmt, data, at + 8, min(value, 0xFFFF) if kind == 3 else value)
    return bytes(data)


BOMBS = {
    "png-100000x100000": _png_header(100_000, 100_000),
    "png-16000x16000": _png_header(16_000, 16_000),  # each side allowed, the product is not
    "gif-65535x65535": _gif_header(65_535, 65_535),
    "bmp-100000x100000": _bmp_header(100_000, 100_000),
    "jpeg-65535x65535": _jpeg_header(65_535, 65_535),
    "tiff-100000x100000": _tiff_header(100_000, 100_000),
}


@pytest.mark.parametrize("form", ["multipart", "raw", "json"])
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_huge_declared_dimensions(client: httpx.Client, bomb: str, form: str) -> None:
    resp = send_image(client, "/v1/ocr", form, BOMBS[bomb])
    check(resp, "fixed")
    assert resp.status_code == 413, _describe(resp)
    assert resp.json()["error"]["code"] == "IMAGE_TOO_LARGE"
    batch = send_image(client, "/v1/ocr/batch", form, BOMBS[bomb])
    check(batch, "fixed")
    assert batch.status_code == 200, _describe(batch)
    assert batch.json()["results"][0]["error"]["code"] == "IMAGE_TOO_LARGE"


def test_oversized_bodies(client: httpx.Client) -> None:
    junk = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_UPLOAD + 1024)  # over the image limit
    for form in ("raw", "multipart", "json"):
        resp = send_image(client, "/v1/ocr", form, junk)
        check(resp, "fixed")
        assert resp.status_code == 413, _describe(resp)
        assert resp.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    huge = b"\x00" * (2 * MAX_UPLOAD)  # over the body limit: refused on Content-Length
    resp = client.post("/v1/ocr", content=huge, headers={"content-type": "image/png"})
    check(resp, "fixed")
    assert resp.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        for _ in range(8):
            yield b"\x00" * (MAX_UPLOAD // 2)

    resp = client.post("/v1/ocr", content=chunks(), headers={"content-type": "image/png"})
    check(resp, "fixed")
    assert resp.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_too_many_images(client: httpx.Client) -> None:
    bad = base64.b64encode(b"x").decode()
    resp = client.post("/v1/ocr/batch", json={"images": [bad] * (MAX_BATCH_IMAGES + 1)})
    check(resp, "fixed")
    assert resp.json()["error"]["code"] == "TOO_MANY_IMAGES"
    two = [("file", ("a.png", b"x")), ("file", ("b.png", b"y"))]
    resp = client.post("/v1/ocr", files=two)
    check(resp, "fixed")
    assert resp.json()["error"]["code"] == "TOO_MANY_IMAGES"
    many = [("files", (f"{i}.png", b"x")) for i in range(MAX_BATCH_IMAGES + 3)]
    check(client.post("/v1/ocr/batch", files=many), "fixed")


# -- valid but odd: images and options that do reach inference (kept small and cheap) ---------


def _odd_images() -> dict[str, bytes]:
    def enc(im: PILImage.Image, fmt: str = "PNG", **kw: Any) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        return buf.getvalue()

    noise = np.random.default_rng(0)
    out = {
        f"{w}x{h}": enc(PILImage.new("L", (w, h), 255))
        for w, h in [(1, 1), (2, 1), (16384, 1), (1, 16384), (16384, 3), (31, 33)]
    }
    out["noise-16384x8"] = enc(  # under the 256 KiB upload limit of this server
        PILImage.fromarray(noise.integers(0, 256, (8, 16384), dtype=np.uint8))
    )
    out["rgba-transparent"] = enc(PILImage.new("RGBA", (50, 20), (0, 0, 0, 0)))
    out["la"] = enc(PILImage.new("LA", (50, 20), (0, 0)))
    out["p-transparency"] = enc(PILImage.new("P", (50, 20)), transparency=0)
    out["1-bit"] = enc(PILImage.new("1", (50, 20), 1))
    out["i16"] = enc(PILImage.fromarray(noise.integers(0, 65535, (20, 50), dtype=np.uint16)))
    out["i32-tiff"] = enc(
        PILImage.fromarray(noise.integers(-(2**31), 2**31 - 1, (20, 50), dtype=np.int32)), "TIFF"
    )
    out["f32-nan-tiff"] = enc(PILImage.fromarray(np.full((20, 50), np.nan, np.float32)), "TIFF")
    out["f32-inf-tiff"] = enc(PILImage.fromarray(np.full((20, 50), np.inf, np.float32)), "TIFF")
    out["cmyk-jpeg"] = enc(PILImage.new("CMYK", (50, 20)), "JPEG")
    out["animated-gif"] = enc(
        PILImage.new("P", (50, 20)),
        "GIF",
        save_all=True,
        append_images=[PILImage.new("P", (50, 20), 1)],
    )
    out["webp-alpha"] = enc(PILImage.new("RGBA", (50, 20), (255, 0, 0, 10)), "WEBP")
    for orientation in (0, 5, 8, 9, 65535):
        im = PILImage.new("RGB", (50, 20), "white")
        exif = im.getexif()
        exif[0x0112] = orientation
        out[f"exif-orientation-{orientation}"] = enc(im, "JPEG", exif=exif)
    return out


ODD_IMAGES = _odd_images()
EXTREME_OPTIONS = {
    "decoder": "beam",
    "beam_width": 10,  # OCR_MAX_BEAM_WIDTH: 50 costs 4x greedy and is refused (422)
    "cls_thresh": 0,
    "drop_score": 0,
    "det_thresh": 0.001,
    "det_box_thresh": 0.001,
    "det_unclip_ratio": 5,
    "format": "text",
}


@pytest.mark.parametrize("name", sorted(ODD_IMAGES))
def test_valid_but_odd_images(client: httpx.Client, name: str) -> None:
    for params in ({}, EXTREME_OPTIONS):
        resp = client.post(
            "/v1/ocr",
            params=params,
            content=ODD_IMAGES[name],
            headers={"content-type": "image/png"},
        )
        check(resp, "fixed")
        assert resp.status_code == 200, _describe(resp)


valid_options = st.fixed_dictionaries(
    {},
    optional={
        "model_set": st.sampled_from(["ppocr-v6-small", "v6", "ppocr-v4-mobile", "v4", "nope"]),
        "det_limit_side_len": st.integers(32, 4096),
        "det_limit_type": st.sampled_from(["max", "min"]),
        "det_thresh": st.floats(0, 1, exclude_min=True, exclude_max=True),
        "det_box_thresh": st.floats(0, 1, exclude_min=True, exclude_max=True),
        "det_unclip_ratio": st.floats(0, 5, exclude_min=True),
        "use_cls": st.booleans(),
        "cls_thresh": st.floats(0, 1),
        "decoder": st.sampled_from(["greedy", "beam"]),
        "beam_width": st.integers(1, 50),
        "drop_score": st.floats(0, 1),
        "format": st.sampled_from(["json", "text"]),
    },
)


@settings(FUZZ, max_examples=60 * SCALE)
@given(opts=valid_options, image=st.sampled_from(["PNG", "JPEG", "BMP"]), batch=st.booleans())
def test_valid_option_values_on_a_real_image(
    client: httpx.Client, opts: dict[str, Any], image: str, batch: bool
) -> None:
    if opts.get("det_limit_type") == "min":  # "min" upscales: keep the detector input small
        opts["det_limit_side_len"] = min(opts.get("det_limit_side_len", 64), 64)
    b64 = base64.b64encode(SEEDS[image]).decode()
    doc = {"images": [b64, b64]} if batch else {"image": b64}
    resp = client.post("/v1/ocr/batch" if batch else "/v1/ocr", json={**doc, "options": opts})
    check(resp, "valid-options")


# -- 3. still standing -----------------------------------------------------------------------


def _alarming(line: str) -> bool:
    """A traceback, or an error logged by the service or uvicorn (Pillow logs corrupt TIFF
    tags at error level and the request still gets its 422: not alarming)."""
    if "Traceback" in line:
        return True
    try:
        rec = json.loads(line)
    except ValueError:
        return False  # libtiff and friends write plain text to stderr
    if not isinstance(rec, dict):
        return False
    return "exc" in rec or (
        rec.get("level") in ("error", "critical") and not str(rec.get("logger")).startswith("PIL.")
    )


def test_server_survived_and_still_reads(server: ServeProcess, client: httpx.Client) -> None:
    """Runs last (file order): the process that took every request above is up and correct."""
    assert server.alive, f"the server died:\n{server.tail()}"
    livez = client.get("/livez")
    assert livez.status_code == 200 and livez.json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200

    resp = client.post("/v1/ocr", files={"file": ("receipt.png", RECEIPT.read_bytes())})
    assert resp.status_code == 200, resp.text
    assert "TOTAL" in resp.json()["text"]

    metrics = client.get("/metrics").text
    server_errors = {}
    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == "ocr_http_requests_total" and s.labels["status"].startswith("5"):
                server_errors[tuple(sorted(s.labels.items()))] = s.value
    assert not any(server_errors.values()), f"5xx answered: {server_errors}"

    bad = [line for line in server.log.read_text(errors="replace").splitlines() if _alarming(line)]
    assert not bad, "the server logged errors:\n" + "\n".join(bad[:20])
    total = sum(SENT.values())
    print(f"\nfuzz requests sent: {total} {dict(SENT)}\nanswers: {dict(ANSWERS)}")
