"""OCR_PROFILE: a profile changes the defaults of the settings it governs, nothing else; an
explicit value (environment or argument) always wins, and every profile value validates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import LEAN, PROFILES, Settings


def test_default_profile_keeps_the_field_defaults() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.profile == "default"
    values = s.model_dump()
    assert all(values[k] == Settings.model_fields[k].default for k in LEAN)


def test_lean_profile_sets_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_PROFILE", "lean")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    values = s.model_dump()
    assert {k: values[k] for k in LEAN} == dict(LEAN)


@pytest.mark.parametrize(
    ("env", "kwargs"), [({"OCR_REC_BATCH_SIZE": "3"}, {}), ({}, {"rec_batch_size": 3})]
)
def test_explicit_values_win_over_the_profile(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kwargs: dict[str, int]
) -> None:
    for name, value in {"OCR_PROFILE": "lean", **env}.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]
    assert s.rec_batch_size == 3
    assert s.det_strip_pixels == LEAN["det_strip_pixels"]


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, profile="tiny")  # type: ignore[call-arg]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_value_is_a_setting(name: str) -> None:
    assert set(PROFILES[name]) <= set(Settings.model_fields) - {"profile"}
