"""The UI's files as the app serves them (fake engines, no browser): the page and its assets
with a strict Content-Security-Policy, open without an API key while the API stays closed, the
API's own 404/405 untouched, and a message in the page for every error code the API answers.
The page itself is driven in a real browser by tests/ui."""

from __future__ import annotations

import re

import pytest

from service.api import ui
from service.api.errors import STATUS
from tests.support.api import serving
from tests.support.fake_models import fake_loader

pytestmark = pytest.mark.anyio

# codes a person never sees from the page: it only sends well-formed requests to known routes
NEVER_SHOWN = {"NOT_FOUND", "METHOD_NOT_ALLOWED"}


async def test_the_page_and_its_assets_are_served_with_a_strict_policy() -> None:
    async with serving(fake_loader(), api_keys="0" * 64) as (_, client):
        page = await client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for src in re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text):
            asset = await client.get(src)
            assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/ui/nope.js")).json()["error"]["code"] == "NOT_FOUND"
        assert (await client.get("/ui/%2e%2e%2f__init__.py")).status_code == 404
        assert (await client.get("/v1/models")).status_code == 401  # the API still needs a key


async def test_the_api_routes_keep_their_own_answers() -> None:
    async with serving(fake_loader()) as (_, client):
        assert (await client.get("/v1/ocr")).json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert (await client.get("/v2/nothing")).json()["error"]["code"] == "NOT_FOUND"


def test_the_page_has_a_message_for_every_error_code() -> None:
    script = (ui.HERE / "ui.js").read_text()
    block = script[script.index("const MESSAGES") : script.index("};", script.index("MESSAGES"))]
    missing = set(STATUS) - NEVER_SHOWN - set(re.findall(r"^\s+([A-Z_]+):", block, re.M))
    assert not missing, f"ui.js MESSAGES lacks {sorted(missing)}"
