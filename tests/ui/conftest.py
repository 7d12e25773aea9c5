"""A real `ocr serve` (real models, an API key, a small upload limit) and a real browser:
Debian's headless Chromium driven by Playwright (scripts/setup.sh --dev installs both; no
browser is downloaded). Screenshots go to var/ui-screenshots/ (gitignored) for a person to look
at: the tests check what can be checked in the DOM, the screenshots show how it looks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from service.api.keys import key_digest
from tests.support.server import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "ui-screenshots"
KEY = "ui-suite-key-7c21e9"
MAX_UPLOAD = 200_000  # bytes: the sample receipt (53 KB) fits, a 300 KB file does not
CHROMIUM = "chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = {
        "OCR_API_KEYS": key_digest(KEY),
        "OCR_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "OCR_CACHE_MEMORY_BYTES": str(64 * 1024 * 1024),  # the UI shows `cached`
        "OCR_LOG_JSON": "false",
    }
    log = tmp_path_factory.mktemp("ui") / "serve.log"
    with ServeProcess(log, env=env, ready_timeout_s=300) as proc:
        yield proc


# Module scope, not session: Playwright's sync API runs its own event loop in this thread until
# it is closed, and the async tests collected after tests/ui could not run theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = shutil.which(CHROMIUM)
    if binary is None:
        pytest.fail("no Debian chromium on PATH: run scripts/setup.sh --dev")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture
def page(
    browser: Browser, server: ServeProcess, shots: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """The UI with the API key already entered (as a person would, once per tab); how the page
    looked at the end of the test goes to var/ui-screenshots/last-<test>.png."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.add_init_script(f"sessionStorage.setItem('ocr-api-key', {KEY!r})")
    tab = context.new_page()
    tab.goto(server.url + "/")
    yield tab
    tab.screenshot(path=shots / f"last-{request.node.name}.png", full_page=True)
    context.close()
