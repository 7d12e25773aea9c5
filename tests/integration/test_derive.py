"""`ocr models derive` end to end on the real models, kept short: FP16 of the small classifier
against tiny gate slices, into a temporary store. Reads ../shared/datasets (CI has it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from models.registry.catalogue import load_catalogue
from models.registry.store import ModelStore
from service.cli.models_cmd import models
from service.ocr.decode import decode_image
from service.runtime.loader import load_pipeline
from service.settings import Settings

pytestmark = pytest.mark.integration
pytest.importorskip("onnxconverter_common")

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
BASE = "ppocr-v6-small"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary store holding the real base set (linked, not copied)."""
    if not (DATASETS / "angle_cls_dev" / "labels.jsonl").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{DATASETS} missing in CI")
        pytest.skip(f"{DATASETS} not available")
    real = ModelStore().set_dir(load_catalogue().get(BASE))
    root = tmp_path_factory.mktemp("store")
    (root / BASE).symlink_to(real, target_is_directory=True)
    return root


def _derive(store: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    env = {"OCR_MODEL_DIR": str(store), "OCR_INTRA_OP_THREADS": "2"}
    cmd = ["derive", BASE, "--precision", "fp16", "--tasks", "cls", "--eval-limit", "3", *args]
    result = runner.invoke(models, cmd, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_a_refused_derivation_registers_nothing(store: Path) -> None:
    code, out = _derive(store, "--tolerance", "-1", "--name", "refused-fp16")
    assert code == 1, out
    assert "REFUSED" in out and "| angle_cls_dev[0:3] | angle_accuracy |" in out
    assert not (store / "refused-fp16").exists()
    local = store / "local-catalogue.yaml"
    assert not local.exists() or "refused-fp16" not in local.read_text()


def test_fp16_classifier_is_admitted_registered_and_loads(store: Path) -> None:
    code, out = _derive(store, "--tolerance", "0.5")
    assert code == 0, out
    assert "ADMITTED" in out
    name = f"{BASE}-fp16"
    entry = yaml.safe_load((store / "local-catalogue.yaml").read_text())["sets"][name]
    assert entry["precision"] == "fp16" and entry["derived_from"] == BASE
    assert entry["source"]["kind"] == "local" and "--precision fp16" in entry["source"]["recipe"]
    adm = entry["admission"]
    assert adm["tolerance_points"] == 0.5 and "angle_cls_dev[0:3]" in adm["slices"]
    metrics = adm["metrics"]["angle_cls_dev[0:3]"]
    assert set(metrics) == {"base", "derived"} and "angle_accuracy" in metrics["derived"]

    s = Settings(model_dir=store, intra_op_threads=1)
    ms = load_catalogue(local=ModelStore(store).local_catalogue).get(name)
    assert ms.models["cls"].files[0].name.endswith(".fp16.onnx")
    ModelStore(store).resolve(ms)  # every pinned sha256 matches
    pipeline = load_pipeline(s, name)
    assert pipeline.name == name
    image = decode_image((DATASETS / "angle_cls_dev" / "images" / "a0443.png").read_bytes())
    angle, score = pipeline.classify_angle(image)
    assert angle == 180 and score > 0.5
