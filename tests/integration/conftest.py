"""Fixtures for integration tests: the real model files, resolved (and sha-verified) via the
registry. They must have been pulled (`ocr models pull --all`, done by the setup script)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry.catalogue import load_catalogue
from models.registry.store import ModelStore, ResolvedSet


def _resolve(name: str) -> ResolvedSet:
    cat = load_catalogue()
    return ModelStore().resolve(cat.get(name))


@pytest.fixture(scope="session")
def v6_set() -> ResolvedSet:
    return _resolve("ppocr-v6-small")


@pytest.fixture(scope="session")
def v4_set() -> ResolvedSet:
    return _resolve("ppocr-v4-mobile")


@pytest.fixture(scope="session")
def paddle_set() -> ResolvedSet:
    """The v4 mobile models in Paddle inference format (Paddle Inference engine)."""
    return _resolve("ppocr-v4-mobile-paddle")


@pytest.fixture(scope="session")
def v6_files(v6_set: ResolvedSet) -> dict[str, Path]:
    return {task: rt.path for task, rt in v6_set.tasks.items()}


@pytest.fixture(scope="session")
def v4_files(v4_set: ResolvedSet) -> dict[str, Path]:
    return {task: rt.path for task, rt in v4_set.tasks.items()}
