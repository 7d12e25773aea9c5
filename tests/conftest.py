"""Fixtures shared by every test folder. The suite is laid out by kind (docs/DESIGN.md):
unit/ (no model files, no network), integration/ (real models, real servers), gate/ (accuracy
on ../shared/datasets), deploy/ (images and manifests); support/ holds the shared helpers."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
