"""The pure parts of `ocr models derive`: calibration sampling, the admission gate, and FP16 /
INT8 conversion of tiny hand-made ONNX graphs (no model files, no datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxconverter_common")
pytest.importorskip("ml_dtypes")  # onnxruntime.quantization needs it

import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.eval.datasets import load_dataset  # noqa: E402
from models.quantize.calibration import (  # noqa: E402
    ArrayReader,
    draw_calibration,
    sample_keys,
    split_count,
)
from models.quantize.fp16 import convert_fp16  # noqa: E402
from models.quantize.gate import (  # noqa: E402
    GateSlice,
    admission_table,
    compare_reports,
    gate_slices,
)
from models.quantize.int8 import Int8Config, quantize_int8, tail_nodes  # noqa: E402
from models.quantize.onnx_meta import io_types, read_metadata  # noqa: E402

# calibration sampling ----------------------------------------------------------------------


def _keys(item: int) -> set[str]:
    return {f"img{item}"}


def test_draw_is_deterministic_and_depends_only_on_seed() -> None:
    pool = list(range(100))
    a = draw_calibration(pool, 10, seed=7, keys=_keys)
    draw_calibration(pool, 30, seed=1, keys=_keys)  # an unrelated draw in between
    assert draw_calibration(pool, 10, seed=7, keys=_keys) == a
    assert draw_calibration(pool, 10, seed=8, keys=_keys) != a
    assert a == sorted(a) and len(set(a)) == 10


def test_draw_never_touches_excluded_items() -> None:
    pool = list(range(50))
    exclude = {f"img{i}" for i in range(20)}  # an evaluation slice: the first 20
    for seed in range(5):
        drawn = draw_calibration(pool, 25, seed, keys=_keys, exclude=exclude)
        assert len(drawn) == 25 and min(drawn) >= 20
    assert draw_calibration(pool, 99, 0, keys=_keys, exclude=exclude) == list(range(20, 50))


@pytest.mark.parametrize(
    ("n", "parts", "expected"), [(10, 3, [4, 3, 3]), (2, 3, [1, 1, 0]), (0, 2, [0, 0]), (5, 0, [])]
)
def test_split_count(n: int, parts: int, expected: list[int]) -> None:
    assert split_count(n, parts) == expected


def test_sample_keys_include_the_source_of_derived_crops(tmp_path: Path) -> None:
    words = tmp_path / "words"
    angles = tmp_path / "angles"
    for d in (words, angles):
        d.mkdir()
    (words / "labels.jsonl").write_text('{"image": "images/w1.png", "text": "a"}\n')
    rec = {"image": "images/a1.png", "angle": 180, "source": "words/images/w1.png"}
    (angles / "labels.jsonl").write_text(json.dumps(rec) + "\n")
    ws, an = load_dataset(words), load_dataset(angles)
    word_keys = sample_keys(ws, ws.samples[0])
    angle_keys = sample_keys(an, an.samples[0])
    assert word_keys <= angle_keys  # the rotated crop shares pixels with the word crop
    drawn = draw_calibration(
        [(ws, ws.samples[0])], 1, 0, keys=lambda it: sample_keys(*it), exclude=angle_keys
    )
    assert drawn == []


def test_array_reader_rewinds() -> None:
    arrays = [np.zeros((1, 2), np.float64), np.ones((1, 2), np.float64)]
    reader = ArrayReader("x", lambda: iter(arrays))
    got = [reader.get_next(), reader.get_next(), reader.get_next()]
    assert got[2] is None and got[1] is not None and got[1]["x"].dtype == np.float32
    reader.rewind()
    first = reader.get_next()
    assert first is not None and reader.count == 1


# the gate --------------------------------------------------------------------------------


def test_gate_slices_follow_the_tasks() -> None:
    det = [s.dataset for s in gate_slices(["det"])]
    assert det == ["sroie_train_dev", "funsd_train"]
    rec = [s.dataset for s in gate_slices(["rec"])]
    assert "iiit5k_train" in rec and "angle_cls_dev" not in rec
    assert "angle_cls_dev" in [s.dataset for s in gate_slices(["cls"], pages=False)]
    assert all(s.limit <= 3 for s in gate_slices(["det", "cls", "rec"], eval_limit=3))
    assert GateSlice("x", 5, 10).key == "x[10:15]"


PAGE = {"det_f1": 0.90, "char_accuracy": 0.95, "line_exact": 0.70, "bow_f1": 0.85}
CROP = {"word_accuracy": 0.90, "cer": 0.020}


@pytest.mark.parametrize(
    ("derived_page", "derived_crop", "tolerance", "admitted"),
    [
        (PAGE, CROP, 0.5, True),  # identical
        (PAGE, CROP, -1.0, False),  # a negative tolerance refuses even identical results
        ({**PAGE, "line_exact": 0.696}, CROP, 0.5, True),  # -0.4 points
        ({**PAGE, "line_exact": 0.694}, CROP, 0.5, False),  # -0.6 points
        ({**PAGE, "det_f1": 0.95}, CROP, 0.0, True),  # better is always fine
        (PAGE, {**CROP, "cer": 0.024}, 0.5, True),  # CER +0.4 points
        (PAGE, {**CROP, "cer": 0.026}, 0.5, False),  # CER +0.6 points: lower is better
        (PAGE, {"word_accuracy": 0.90}, 0.5, False),  # a metric missing counts as lost
    ],
)
def test_admission_decision(
    derived_page: dict[str, float], derived_crop: dict[str, float], tolerance: float, admitted: bool
) -> None:
    kinds = {"pages[0:20]": "page", "words[0:300]": "crop"}
    base = {"pages[0:20]": PAGE, "words[0:300]": CROP}
    derived = {"pages[0:20]": derived_page, "words[0:300]": derived_crop}
    adm = compare_reports(kinds, base, derived, tolerance)
    assert len(adm.rows) == 6
    assert adm.admitted is admitted
    assert ("ADMITTED" if admitted else "REFUSED") in admission_table(adm)


def test_no_rows_is_never_admitted() -> None:
    assert not compare_reports({}, {}, {}, 0.5).admitted


# conversion of tiny graphs ---------------------------------------------------------------


def _tiny_model(path: Path) -> Path:
    """x (N, 3, H, W) float32 -> Conv 3x3 -> Relu -> Conv 1x1 -> y; metadata 'character'."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(size=(2, 4, 1, 1)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["y"], name="conv2"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [w1, b1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {"character": "a\nb\nc"})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"x": x})[0])


def test_fp16_keeps_float32_io_and_metadata(tmp_path: Path) -> None:
    src = _tiny_model(tmp_path / "tiny.onnx")
    dst = convert_fp16(src, tmp_path / "tiny.fp16.onnx")
    model = onnx.load(str(dst))
    assert io_types(model) == {"x": TensorProto.FLOAT, "y": TensorProto.FLOAT}
    assert read_metadata(dst) == {"character": "a\nb\nc"}
    weights = {t.name: t.data_type for t in model.graph.initializer}
    assert TensorProto.FLOAT16 in weights.values()
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(dst, x), _run(src, x), rtol=0.02, atol=0.05)


def test_int8_qdq_keeps_io_metadata_and_excludes_the_tail(tmp_path: Path) -> None:
    src = _tiny_model(tmp_path / "tiny.onnx")
    rng = np.random.default_rng(2)
    calib = [rng.normal(size=(1, 3, 8, 8)).astype(np.float32) for _ in range(8)]
    reader = ArrayReader("x", lambda: iter(calib))
    dst = tmp_path / "tiny.int8.onnx"
    info = quantize_int8(src, dst, reader, Int8Config(fp32_tail=1))
    model = onnx.load(str(dst))
    assert io_types(model) == {"x": TensorProto.FLOAT, "y": TensorProto.FLOAT}
    assert read_metadata(dst) == {"character": "a\nb\nc"}
    assert info["excluded_nodes"] == ["conv2"] and info["quantize_linear_nodes"] > 0
    assert tail_nodes(model, 1) == ["conv2"]
    x = calib[0]
    ref = _run(src, x)
    assert np.abs(_run(dst, x) - ref).max() < 0.1 * np.abs(ref).max()
