"""Loader checks that need no model files."""

from __future__ import annotations

import pytest

from models.registry.catalogue import FileSpec, InputContract, TaskModel
from service.ocr.errors import ModelError
from service.runtime.loader import _check_line_contract
from service.settings import Settings

FILE = FileSpec(name="rec.onnx", sha256="0" * 64)


def test_plain_pp_ocr_line_contract_is_accepted() -> None:
    _check_line_contract("rec", TaskModel(files=(FILE,), input=InputContract(height=48)))


@pytest.mark.parametrize(
    "contract",
    [
        InputContract(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        InputContract(channel_order="RGB"),
        InputContract(scale=1.0),
    ],
)
def test_other_line_contracts_are_refused_not_misread(contract: InputContract) -> None:
    with pytest.raises(ModelError, match="not supported"):
        _check_line_contract("rec", TaskModel(files=(FILE,), input=contract))


def test_options_follow_settings() -> None:
    opts = Settings(det_limit_side_len=640, decoder="beam", use_cls=False).ocr_options()
    assert opts.det.limit_side_len == 640 and opts.decoder == "beam" and not opts.use_cls


def test_a_paddle_set_needs_the_paddle_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.runtime.loader as loader
    from models.registry.catalogue import ModelSet

    def model_set(fmt: str) -> ModelSet:
        task = {"format": fmt, "files": [FILE.model_dump()]}
        return ModelSet.model_validate(
            {
                "version": "1",
                "licence": "MIT",
                "source": {"kind": "dir", "path": "/x"},
                "models": {"det": task, "cls": task, "rec": task},
            }
        )

    monkeypatch.setattr(loader, "find_spec", lambda name: None)
    assert loader.missing_runtime(model_set("paddle")) == "paddle"
    assert loader.missing_runtime(model_set("onnx")) is None
