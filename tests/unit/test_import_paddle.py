"""The pure parts of `ocr models import-paddle`: export and dictionary discovery, inference.yml
parsing, name checks, the PIR and ONNX repairs on tiny hand-made graphs, the parity measure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from models.convert.errors import ConvertError
from models.convert.paddle_export import (
    contract_from_yml,
    find_dictionary,
    find_export,
    labels_from_yml,
    parse_scale,
    read_inference_yml,
)
from models.convert.paddle_import import check_name
from models.convert.parity import parity_inputs
from models.registry.catalogue import Catalogue, InputContract, ModelSet

BASE = InputContract(height=48, width=192, buckets=(320, 640))
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": "1./255."}


def _ops(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"PreProcess": {"transform_ops": list(ops)}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.00392156862745098, 1 / 255), ("1./255.", 1 / 255), ("1/255", 1 / 255), (1, 1.0)],
)
def test_parse_scale(value: object, expected: float) -> None:
    assert parse_scale(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["one/255", "1/0", "x"])
def test_parse_scale_rejects_nonsense(value: str) -> None:
    with pytest.raises(ConvertError, match="scale"):
        parse_scale(value)


CONTRACTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # no inference.yml: the base contract as it is
    ("det", {}, {}),
    # PaddleX det: NormalizeImage with ImageNet statistics and scale written as a string
    (
        "det",
        _ops({"DecodeImage": {"img_mode": "BGR"}}, {"NormalizeImage": IMAGENET}),
        {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
    ),
    ("det", _ops({"DecodeImage": {"img_mode": "RGB"}}), {"channel_order": "RGB"}),
    # rec: RecResizeImg sets the height; the op normalises as x / 255, mean = std = 0.5
    ("rec", _ops({"RecResizeImg": {"image_shape": [3, 32, 320]}}), {"height": 32}),
    # cls: PaddleOCR's ClsResizeImg [C, H, W] or PaddleX's ResizeImage size [W, H]
    ("cls", _ops({"ClsResizeImg": {"image_shape": [3, 64, 256]}}), {"height": 64, "width": 256}),
    ("cls", _ops({"ResizeImage": {"size": [160, 80]}}), {"height": 80, "width": 160}),
]


@pytest.mark.parametrize(("task", "config", "changed"), CONTRACTS)
def test_contract_from_yml(task: Any, config: dict[str, Any], changed: dict[str, Any]) -> None:
    base = BASE.model_copy(update={"mean": (0.1, 0.2, 0.3)}) if task == "rec" else BASE
    got = contract_from_yml(task, config, base)
    expected = base.model_copy(update=changed)
    if task == "rec" and config:
        expected = expected.model_copy(update={"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)})
    assert got == expected
    assert got.buckets == BASE.buckets  # never in inference.yml: always the base set's


def test_contract_rejects_a_bad_mean() -> None:
    with pytest.raises(ConvertError, match="mean"):
        contract_from_yml("det", _ops({"NormalizeImage": {"mean": [0.5, 0.5]}}), BASE)


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        ({}, (0, 180)),
        ({"label_list": ["0", "180"]}, (0, 180)),
        ({"Topk": {"topk": 1, "label_list": ["0_degree", "180_degree"]}}, (0, 180)),
        ({"label_list": ["90", "270"]}, (90, 270)),
    ],
)
def test_labels_from_yml(post: dict[str, Any], expected: tuple[int, ...]) -> None:
    assert labels_from_yml({"PostProcess": post}, (0, 180)) == expected


def test_labels_from_yml_rejects_unreadable_labels() -> None:
    with pytest.raises(ConvertError, match="label_list"):
        labels_from_yml({"PostProcess": {"label_list": ["up", "down"]}}, None)


def test_read_inference_yml(tmp_path: Path) -> None:
    assert read_inference_yml(tmp_path / "missing.yml") == {}
    good = tmp_path / "inference.yml"
    good.write_text(yaml.safe_dump({"Global": {"model_name": "x"}}))
    assert read_inference_yml(good) == {"Global": {"model_name": "x"}}
    for text in ("a: [1, 2", "- just\n- a list\n"):
        good.write_text(text)
        with pytest.raises(ConvertError, match=r"inference\.yml"):
            read_inference_yml(good)


def _dict_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_dictionary_sources_in_order(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    listed = {"PostProcess": {"character_dict": ["x", "y"]}}
    # 3. only the yml's list
    d = find_dictionary(rec, listed, None, space=True)
    assert d.symbols == ("x", "y") and d.space and "inference.yml" in d.origin
    # 2. a *.txt beside the model wins over the yml (CRLF and the final newline are not symbols)
    _dict_file(rec / "keys.txt", "a\r\nb\r\n \r\n")
    d = find_dictionary(rec, listed, None, space=True)
    assert d.symbols == ("a", "b", " ") and d.origin.endswith("keys.txt")
    assert d.text() == "a\nb\n "
    # 1. --dict wins over both
    d = find_dictionary(rec, listed, _dict_file(tmp_path / "mine.txt", "q\n"), space=True)
    assert d.symbols == ("q",)


def test_dictionary_space_class_follows_the_yml(tmp_path: Path) -> None:
    config = {"PostProcess": {"character_dict": ["a"], "use_space_char": False}}
    assert find_dictionary(tmp_path, config, None, space=True).space is False
    assert (
        find_dictionary(tmp_path, {"PostProcess": {"character_dict": ["a"]}}, None, False).space
        is False
    )


def test_dictionary_errors(tmp_path: Path) -> None:
    with pytest.raises(ConvertError, match="no rec dictionary"):
        find_dictionary(tmp_path, {}, None, space=True)
    with pytest.raises(ConvertError, match="empty"):
        find_dictionary(tmp_path, {}, _dict_file(tmp_path / "empty.txt", ""), space=True)
    with pytest.raises(ConvertError, match="cannot read"):
        find_dictionary(tmp_path, {}, tmp_path / "missing.txt", space=True)
    _dict_file(tmp_path / "a.txt", "a\n")
    _dict_file(tmp_path / "b.txt", "b\n")
    with pytest.raises(ConvertError, match="several dictionaries"):
        find_dictionary(tmp_path, {}, None, space=True)


def test_find_export(tmp_path: Path) -> None:
    assert find_export(tmp_path, "det") is None
    det = tmp_path / "det"
    det.mkdir()
    (det / "inference.pdmodel").write_bytes(b"program")
    with pytest.raises(
        ConvertError, match=r"needs one inference\.pdmodel.*found inference\.pdmodel"
    ):
        find_export(tmp_path, "det")
    (det / "inference.pdiparams").write_bytes(b"params")
    (det / "inference.yml").write_text("PostProcess: {name: DBPostProcess}\n")
    export = find_export(tmp_path, "det")
    assert export is not None and export.program.name == "inference.pdmodel"
    assert export.config == {"PostProcess": {"name": "DBPostProcess"}}
    # a PaddleX (PIR) export: inference.json; its config.json is not a program
    rec = tmp_path / "rec"
    rec.mkdir()
    for name in ("inference.json", "inference.pdiparams", "config.json"):
        (rec / name).write_bytes(b"{}")
    export = find_export(tmp_path, "rec")
    assert export is not None and export.program.name == "inference.json"
    (tmp_path / "cls").write_text("not a directory")
    with pytest.raises(ConvertError, match="not a directory"):
        find_export(tmp_path, "cls")


def _catalogue() -> Catalogue:
    files = [{"name": "m.onnx", "sha256": "0" * 64}]
    models = {t: {"files": files} for t in ("det", "cls", "rec")}
    wheel = {"kind": "pypi-wheel", "package": "p", "version": "1"}
    sets = {
        "bundled": {"version": "1", "licence": "x", "source": wheel, "models": models},
        "mine": {"version": "1", "licence": "x", "source": {"kind": "local"}, "models": models},
    }
    sets["bundled"]["aliases"] = ["default"]
    cat = Catalogue.model_validate({"schema": 1, "default": "bundled", "sets": sets})
    named = {k: v.model_copy(update={"name": k}) for k, v in cat.sets.items()}
    return cat.model_copy(update={"sets": named})


@pytest.mark.parametrize(
    ("name", "force", "message"),
    [
        ("bundled", True, "is a catalogue set"),
        ("default", False, "is an alias of 'bundled'"),
        ("mine", False, "--force"),
        ("../up", False, "invalid set name"),
        ("", False, "invalid set name"),
    ],
)
def test_check_name_refuses(name: str, force: bool, message: str) -> None:
    with pytest.raises(ConvertError, match=message):
        check_name(name, _catalogue(), force)


def test_check_name_accepts_new_names_and_forced_reimports() -> None:
    check_name("my-set_2.0", _catalogue(), force=False)
    check_name("mine", _catalogue(), force=True)
    assert isinstance(_catalogue().sets["mine"], ModelSet)


@pytest.mark.parametrize("task", ["det", "cls", "rec"])
def test_parity_inputs_cover_shapes_batches_and_the_real_value_range(task: Any) -> None:
    c = InputContract(height=48, width=192)
    cases = parity_inputs(task, c)
    assert len({x.shape for x in cases}) >= 2 and max(x.shape[0] for x in cases) > 1
    for x in cases:
        assert x.dtype == np.float32 and x.shape[1] == 3
        assert -1.0 <= x.min() < 0.0 < x.max() <= 1.0  # (px / 255 - 0.5) / 0.5
        if task != "det":
            assert x.shape[2] == 48
    # fixed: the same seed gives the same inputs
    assert all(np.array_equal(a, b) for a, b in zip(cases, parity_inputs(task, c), strict=True))
    sample = np.full((100, 300, 3), 255, np.uint8)
    more = parity_inputs(task, c, [sample])
    assert len(more) == len(cases) + (task != "cls")


# ---- the repairs, on hand-made graphs


def test_patch_pir_json_makes_interp_scales_float32(tmp_path: Path) -> None:
    from models.convert.paddle_to_onnx import _patch_pir_json

    def attr(name: str, kind: str, values: list[float]) -> dict[str, Any]:
        items = [{"#": kind, "D": v} for v in values]
        return {"AT": {"#": "0.a_array", "D": items}, "N": name}

    interp = {"#": "1.nearest_interp", "A": [attr("scale", "0.a_f64", [2.0, 2.0])]}
    other = {"#": "1.scale", "A": [attr("scale", "0.a_f64", [3.0])]}
    nested = {"#": "1.bilinear_interp", "A": [attr("scale", "0.a_f64", [4.0])]}
    doc = {"program": {"regions": [{"blocks": [{"ops": [interp, other, {"regions": [nested]}]}]}]}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    assert _patch_pir_json(path) == 2
    ops = json.loads(path.read_text())["program"]["regions"][0]["blocks"][0]["ops"]
    kinds = [i["#"] for i in ops[0]["A"][0]["AT"]["D"]]
    assert kinds == ["0.a_f32", "0.a_f32"]
    assert ops[1]["A"][0]["AT"]["D"][0]["#"] == "0.a_f64"  # not an interp op: untouched
    assert ops[2]["regions"][0]["A"][0]["AT"]["D"][0]["#"] == "0.a_f32"
    assert _patch_pir_json(path) == 0


def test_fix_concat_ranks_makes_paddle2onnx_reshape_targets_loadable() -> None:
    """x.reshape([x.shape[0], -1]) as paddle2onnx 2.1 writes it: the sliced batch dimension is a
    0-D tensor concatenated with a 1-D constant, which ONNX Runtime refuses to load."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from models.convert.paddle_to_onnx import fix_concat_ranks

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),  # 0-D
        helper.make_node("Concat", ["batch", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 6])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    with pytest.raises(Exception, match="rank"):
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert fix_concat_ranks(model) == 1
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], x.reshape(2, -1))
    assert fix_concat_ranks(model) == 0  # idempotent


def _softmax_model(path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
    )
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return np.asarray(e / e.sum(-1, keepdims=True), dtype=np.float32)


def test_check_parity_measures_the_difference(tmp_path: Path) -> None:
    from models.convert.parity import check_parity

    pytest.importorskip("onnxruntime")
    path = tmp_path / "softmax.onnx"
    _softmax_model(path)
    inputs = parity_inputs("rec", InputContract(height=48))
    same = check_parity("rec", path, _softmax, inputs)
    assert same.passed(1e-6) and same.agreement == 1.0 and same.cases == len(inputs)

    def off(x: np.ndarray) -> np.ndarray:
        return _softmax(x) + np.float32(0.01)

    worse = check_parity("rec", path, off, inputs)
    assert worse.max_abs == pytest.approx(0.01, rel=1e-3) and not worse.passed(1e-4)

    def wrong_shape(x: np.ndarray) -> np.ndarray:
        return _softmax(x)[:, :1]

    with pytest.raises(ConvertError, match="output shapes differ"):
        check_parity("rec", path, wrong_shape, inputs)
