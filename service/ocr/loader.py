"""Build an OcrPipeline from a catalogue model set: resolve (sha256-verified) files, open one
engine per task, read each model's input contract and dictionary."""

from __future__ import annotations

from models.codec.charset import Charset, CharsetError
from models.registry.catalogue import TaskModel, load_catalogue
from models.registry.store import ModelStore, ResolvedTask
from service.engines.base import Engine
from service.engines.onnxruntime import OnnxEngine, OrtOptions
from service.ocr.classify import AngleClassifier
from service.ocr.detect import DetInputSpec, TextDetector
from service.ocr.errors import ModelError
from service.ocr.pipeline import OcrPipeline
from service.ocr.recognize import DEFAULT_BUCKETS, TextRecognizer
from service.ocr.types import DetOptions, OcrOptions
from service.settings import Settings


def options_from_settings(s: Settings) -> OcrOptions:
    det = DetOptions(
        limit_side_len=s.det_limit_side_len,
        limit_type=s.det_limit_type,
        thresh=s.det_thresh,
        box_thresh=s.det_box_thresh,
        unclip_ratio=s.det_unclip_ratio,
    )
    return OcrOptions(
        det=det,
        use_cls=s.use_cls,
        cls_thresh=s.cls_thresh,
        decoder=s.decoder,
        beam_width=s.beam_width,
        drop_score=s.drop_score,
    )


def make_engine(task: ResolvedTask, s: Settings) -> Engine:
    if task.spec.format != "onnx":
        raise ModelError(f"model format {task.spec.format!r} needs an engine this build lacks")
    opts = OrtOptions(
        intra_op_threads=s.intra_op_threads,
        inter_op_threads=s.inter_op_threads,
        cpu_mem_arena=s.cpu_mem_arena,
        mem_pattern=s.mem_pattern,
        graph_optimization=s.graph_optimization,
        allow_spinning=s.ort_allow_spinning,
    )
    return OnnxEngine(task.path, opts)


def load_charset(task: ResolvedTask, engine: Engine) -> Charset:
    spec = task.spec.dictionary
    if spec is None:
        raise ModelError("the rec model has no dictionary in the catalogue")
    try:
        if spec.embedded:
            metadata = getattr(engine, "metadata", {})
            return Charset.from_metadata(metadata, use_space=spec.space, key=spec.embedded)
        by_name = {f.name: p for f, p in zip(task.spec.files, task.paths, strict=True)}
        if spec.file not in by_name:
            raise ModelError(f"dictionary file {spec.file!r} is not a file of the rec model")
        return Charset.from_file(by_name[spec.file], use_space=spec.space)
    except CharsetError as exc:
        raise ModelError(f"bad rec dictionary: {exc}") from exc


def _check_line_contract(task: str, spec: TaskModel) -> None:
    """The cls and rec stages normalise as every PP-OCR line model does: BGR / 255, mean = std
    = 0.5. Refuse, rather than silently misread, a catalogue entry that asks for more."""
    c = spec.input
    plain = c.channel_order == "BGR" and abs(c.scale - 1 / 255) < 1e-9
    if not plain or c.mean != (0.5, 0.5, 0.5) or c.std != (0.5, 0.5, 0.5):
        raise ModelError(f"{task} input contract {c} is not supported by the {task} stage yet")


def _det_spec(spec: TaskModel) -> DetInputSpec:
    c = spec.input
    return DetInputSpec(mean=c.mean, std=c.std, channel_order=c.channel_order, scale=c.scale)


def load_pipeline(s: Settings, name: str | None = None) -> OcrPipeline:
    """Resolve `name` (or the configured default set) and open its three engines."""
    catalogue = load_catalogue(s.catalogue)
    ms = catalogue.get(name or s.model_set)
    resolved = ModelStore(s.model_dir).resolve(ms, verify=s.verify_models)
    det, cls, rec = (resolved.tasks[t] for t in ("det", "cls", "rec"))
    _check_line_contract("cls", cls.spec)
    _check_line_contract("rec", rec.spec)
    rec_engine = make_engine(rec, s)
    cls_shape = (cls.spec.input.height or 48, cls.spec.input.width or 192)
    return OcrPipeline(
        name=ms.name,
        versions=ms.versions(),
        detector=TextDetector(make_engine(det, s), _det_spec(det.spec)),
        classifier=AngleClassifier(make_engine(cls, s), shape=cls_shape),
        recognizer=TextRecognizer(
            rec_engine,
            load_charset(rec, rec_engine),
            height=rec.spec.input.height or 48,
            buckets=rec.spec.input.buckets or DEFAULT_BUCKETS,
            max_batch=s.rec_batch_size,
            max_batch_px=s.rec_batch_width,
        ),
    )
