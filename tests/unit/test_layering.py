"""The folder tree's layering holds: `service.ocr` is the pure reading path, and `ocr predict`
does not pay for the HTTP server. Each check imports in a fresh interpreter with the forbidden
packages blocked, so a stray import anywhere in the chain fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVING = ["fastapi", "starlette", "uvicorn", "redis", "prometheus_client"]
ENGINES = ["onnxruntime", "openvino", "paddle", "torch", "pydantic_settings"]

BLOCKER = """
import importlib.abc, pkgutil, sys
BLOCKED = set({blocked!r})
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} imported by the layer under test")
sys.meta_path.insert(0, Block())
"""


def _import_with_blocked(blocked: list[str], code: str) -> subprocess.CompletedProcess[str]:
    script = BLOCKER.format(blocked=blocked) + code
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def test_the_reading_path_imports_no_server_and_no_engine_runtime() -> None:
    code = (
        "import service.ocr\n"
        "for m in pkgutil.iter_modules(service.ocr.__path__):\n"
        "    __import__(f'service.ocr.{m.name}')\n"
    )
    proc = _import_with_blocked(SERVING + ENGINES, code)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("module", ["service.cli.predict_cmd", "service.cli.eval_cmd"])
def test_cli_commands_that_read_do_not_import_the_server(module: str) -> None:
    code = f"import service.cli.main\nimport {module}\n"
    proc = _import_with_blocked(SERVING, code)
    assert proc.returncode == 0, proc.stderr[-2000:]


# What reading an image with `ocr predict` does not need: PDF libraries (PDFium, pikepdf), the
# receipt fields, the eval package: together ~0.4 s of a cold start on a busy machine (python
# -X importtime, docs/benchmarks.md "Cold start").
PREDICT_IMAGE_NEEDS_NOT = ["pypdfium2", "pikepdf", "service.fields.receipt", "models.eval"]


def test_ocr_predict_of_an_image_imports_no_pdf_fields_or_eval_code() -> None:
    code = "import service.cli.main\nimport service.cli.predict_cmd\n"
    proc = _import_with_blocked(PREDICT_IMAGE_NEEDS_NOT, code)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_serving_never_imports_torch_or_the_training_package() -> None:
    """`ocr serve` (default engine) and the HTTP app load without torch and `models.training`:
    training is the `train` extra, and only `ocr train` imports it."""
    code = (
        "import service.cli.serve_cmd, service.api.app, service.runtime.loader\n"
        "from service.cli.main import cli\n"
        "assert cli.get_command(None, 'serve').name == 'serve'\n"
    )
    proc = _import_with_blocked(["torch", "models.training"], code)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_ocr_train_is_listed_and_loads_its_command_group() -> None:
    code = (
        "from service.cli.main import cli\nassert cli.get_command(None, 'train').name == 'train'\n"
    )
    proc = _import_with_blocked([], code)
    assert proc.returncode == 0, proc.stderr[-2000:]
