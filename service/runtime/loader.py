"""Model loading: a catalogue model set -> an OcrPipeline. Resolves (sha256-verified) files,
opens one engine per task, reads each model's input contract and dictionary. Lives outside
service/ocr so the reading flow stays free of engines and settings."""

from __future__ import annotations

from functools import partial
from importlib.util import find_spec

from models.codec.charset import Charset, CharsetError
from models.registry.catalogue import Catalogue, ModelSet, TaskModel, load_catalogue
from models.registry.store import ModelStore, ResolvedSet, ResolvedTask
from service.engines.base import Engine
from service.engines.onnxruntime import OnnxEngine, OrtOptions
from service.ocr.classify import AngleClassifier
from service.ocr.detect import DetInputSpec, TextDetector, parse_buckets
from service.ocr.errors import ModelError
from service.ocr.pipeline import OcrPipeline
from service.ocr.recognize import DEFAULT_BUCKETS, RecShape, TextRecognizer
from service.runtime.memory import set_malloc_policy, trim_heap
from service.settings import Settings


def catalogue_from_settings(s: Settings) -> Catalogue:
    """The configured catalogue plus the store's overlay of sets made on this machine."""
    return load_catalogue(s.catalogue, local=ModelStore(s.model_dir).local_catalogue)


def missing_runtime(ms: ModelSet) -> str | None:
    """The optional runtime a set needs but this install lacks (e.g. "paddle"), or None."""
    if any(m.format == "paddle" for m in ms.models.values()) and not find_spec("paddle"):
        return "paddle"
    return None


def ort_options(s: Settings) -> OrtOptions:
    return OrtOptions(
        intra_op_threads=s.intra_op_threads,
        inter_op_threads=s.inter_op_threads,
        cpu_mem_arena=s.cpu_mem_arena,
        shared_arena=s.ort_shared_arena,
        mem_pattern=s.mem_pattern,
        graph_optimization=s.graph_optimization,
        allow_spinning=s.ort_allow_spinning,
        providers=tuple(p.strip() for p in s.ort_providers.split(",") if p.strip()),
        device_id=s.gpu_device_id,
        cudnn_conv_algo_search=s.ort_cudnn_conv_algo_search,
        trt_cache_dir=s.ort_trt_cache_dir,
        trt_fp16=s.ort_trt_fp16,
    )


def make_engine(task: ResolvedTask, s: Settings) -> Engine:
    """The engine for one task: Paddle Inference for Paddle-format files; for ONNX files,
    ONNX Runtime (CPU/CUDA/TensorRT providers) or the torch engine, per `s.engine`.

    Optional runtimes are imported here, only when a model needs them, so the service's import
    path stays free of paddle and torch."""
    fmt = task.spec.format
    if fmt == "paddle":
        try:
            from service.engines.paddle import PaddleEngine, PaddleOptions
        except ImportError as exc:
            raise ModelError(
                f"Paddle-format models need Paddle Inference: pip install '.[paddle]' ({exc})"
            ) from exc
        return PaddleEngine(
            task.paths,
            PaddleOptions(
                threads=s.intra_op_threads,
                mkldnn=s.paddle_mkldnn,
                mkldnn_cache_capacity=s.paddle_mkldnn_cache_capacity,
                device=s.paddle_device,
                device_id=s.gpu_device_id,
            ),
        )
    if fmt != "onnx":
        raise ModelError(f"model format {fmt!r} needs an engine this build lacks")
    if s.engine == "openvino":
        from service.engines.openvino import OpenVinoEngine, OpenVinoOptions

        ov_opts = OpenVinoOptions(threads=s.intra_op_threads, precision=s.openvino_precision)
        return OpenVinoEngine(task.path, ov_opts)
    if s.engine == "torch":
        try:
            from service.engines.torch.engine import TorchEngine, TorchOptions
        except ImportError as exc:
            raise ModelError(f"engine=torch needs PyTorch and onnx installed ({exc})") from exc
        opts = TorchOptions(
            device=s.torch_device,
            dtype=s.torch_dtype,
            cuda_graphs=s.torch_cuda_graphs,
            device_id=s.gpu_device_id,
            threads=s.intra_op_threads,
        )
        return TorchEngine(task.path, opts)
    return OnnxEngine(task.path, ort_options(s))


def load_charset(task: ResolvedTask, engine: Engine) -> Charset:
    spec = task.spec.dictionary
    if spec is None:
        raise ModelError("the rec model has no dictionary in the catalogue")
    try:
        if spec.embedded:
            metadata = dict(engine.metadata)
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


def det_buckets(s: Settings) -> tuple[int, ...]:
    try:
        return parse_buckets(s.det_buckets)
    except ValueError as exc:
        raise ModelError(f"OCR_DET_BUCKETS: {exc}") from exc


def _det_spec(spec: TaskModel) -> DetInputSpec:
    c = spec.input
    return DetInputSpec(mean=c.mean, std=c.std, channel_order=c.channel_order, scale=c.scale)


def load_pipeline(s: Settings, name: str | None = None) -> OcrPipeline:
    """Resolve `name` (or the configured default set) and open its three engines; with
    ``OCR_ENGINE=auto`` on the engine and precision measured fastest here (runtime/auto.py)."""
    ms = catalogue_from_settings(s).get(name or s.model_set)
    if s.engine == "auto" and all(m.format == "onnx" for m in ms.models.values()):
        from service.runtime.auto import choose_engine

        resolved = ModelStore(s.model_dir).resolve(ms, verify=s.verify_models)
        return choose_engine(s, ms, partial(open_set, resolved=resolved))  # files hashed once
    return open_set(s, ms)


def open_set(s: Settings, ms: ModelSet, resolved: ResolvedSet | None = None) -> OcrPipeline:
    """Open the set `ms` (its files resolved and checked here unless ``resolved`` is given) on
    the engine `s` names (Paddle-format files: Paddle Inference)."""
    set_malloc_policy(s.malloc_mmap_threshold, s.malloc_arena_max)  # before engines and threads
    if resolved is None:
        resolved = ModelStore(s.model_dir).resolve(ms, verify=s.verify_models)
    det, cls, rec = (resolved.tasks[t] for t in ("det", "cls", "rec"))
    _check_line_contract("cls", cls.spec)
    _check_line_contract("rec", rec.spec)
    rec_engine = make_engine(rec, s)
    cls_shape = (cls.spec.input.height or 48, cls.spec.input.width or 192)
    pipeline = OcrPipeline(
        name=ms.name,
        versions=ms.versions(),
        detector=TextDetector(
            make_engine(det, s),
            _det_spec(det.spec),
            buckets=det_buckets(s),
            max_batch=s.det_max_batch,
            strip_pixels=s.det_strip_pixels,
            crop_margin=det.spec.crop_margin,
        ),
        classifier=AngleClassifier(make_engine(cls, s), shape=cls_shape, max_batch=s.cls_max_batch),
        recognizer=TextRecognizer(
            rec_engine,
            load_charset(rec, rec_engine),
            RecShape(
                height=rec.spec.input.height or 48,
                buckets=rec.spec.input.buckets or DEFAULT_BUCKETS,
                space_weight=rec.spec.space_weight,
            ),
            max_batch=s.rec_batch_size,
            max_batch_px=s.rec_batch_width,
        ),
        engine=f"{rec_engine.name} {rec_engine.precision}",
    )
    # Parsing the model files left ~16 MB of freed heap that glibc keeps: give it back now.
    trim_heap()
    return pipeline
