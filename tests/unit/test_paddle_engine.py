"""PaddleEngine's file handling, without importing paddle (that is in the integration test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.engines.paddle import PaddleOptions, _model_files
from service.ocr.errors import ModelError


def _touch(tmp_path: Path, *names: str) -> tuple[Path, ...]:
    paths = tuple(tmp_path / n for n in names)
    for p in paths:
        p.write_bytes(b"x")
    return paths


def test_program_and_params_are_picked_by_suffix(tmp_path: Path) -> None:
    keys, params, program = _touch(tmp_path, "keys.txt", "m.pdiparams", "m.pdmodel")
    assert _model_files((keys, params, program)) == (program, params)


def test_a_pir_json_program_is_accepted(tmp_path: Path) -> None:
    program, params = _touch(tmp_path, "inference.json", "inference.pdiparams")
    assert _model_files((program, params)) == (program, params)


@pytest.mark.parametrize(
    "names",
    [("m.pdmodel",), ("m.pdiparams", "keys.txt"), ("a.pdmodel", "b.json", "m.pdiparams")],
)
def test_a_task_needs_one_program_and_one_params_file(tmp_path: Path, names: tuple[str]) -> None:
    with pytest.raises(ModelError, match="exactly one"):
        _model_files(_touch(tmp_path, *names))


def test_missing_files_are_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        _model_files((tmp_path / "m.pdmodel", tmp_path / "m.pdiparams"))


def test_defaults() -> None:
    opts = PaddleOptions()
    assert opts.threads == 0 and opts.mkldnn and opts.memory_optim
    assert opts.mkldnn_cache_capacity > 0  # bounded: unbounded grows ~15 MB per det shape
    assert opts.new_ir is None  # chosen by the program's format
    with pytest.raises(AttributeError):
        opts.threads = 2  # type: ignore[misc]


def test_importing_the_module_does_not_import_paddle() -> None:
    code = "import sys, service.engines.paddle; assert 'paddle' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


@pytest.mark.parametrize(
    ("requested", "cuda_build", "gpus", "device", "warns"),
    [
        ("auto", False, 0, "cpu", False),  # the PyPI CPU wheel
        ("auto", True, 1, "gpu", False),  # paddlepaddle-gpu with a device
        ("auto", True, 0, "cpu", False),
        ("cpu", True, 1, "cpu", False),
        ("gpu", False, 0, "cpu", True),  # asked for, impossible: CPU, with a warning
        ("gpu", True, 0, "cpu", True),
        ("gpu", True, 2, "gpu", False),
    ],
)
def test_device_resolution(
    requested: str, cuda_build: bool, gpus: int, device: str, warns: bool
) -> None:
    from service.engines.paddle import resolve_device

    got, note = resolve_device(requested, cuda_build, gpus)
    assert got == device and bool(note) == warns
