"""`ocr models`: commands that need optional extras load lazily and explain a missing extra."""

from __future__ import annotations

import importlib
import sys

import click
import pytest
from click.testing import CliRunner

from service.cli.models_cmd import models


def test_optional_commands_are_listed_without_being_imported() -> None:
    for mod in ("service.cli.derive_cmd", "service.cli.import_paddle_cmd"):
        sys.modules.pop(mod, None)
    ctx = click.Context(models)
    assert {"derive", "import-paddle", "pull"} <= set(models.list_commands(ctx))
    assert "service.cli.derive_cmd" not in sys.modules


def test_a_missing_extra_is_named_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, package: str | None = None):  # type: ignore[no-untyped-def]
        if name == "service.cli.derive_cmd":
            raise ModuleNotFoundError("No module named 'onnxconverter_common'", name="onnx")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake)
    result = CliRunner().invoke(models, ["derive", "ppocr-v6-small"])
    assert result.exit_code == 1
    assert "pip install '.[convert]'" in result.output
