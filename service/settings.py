"""One validated settings tree. Every field is an `OCR_*` environment variable (or .env entry).

The README's configuration table lists them; `ocr config` prints the effective values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.registry.catalogue import DEFAULT_CATALOGUE
from models.registry.store import default_store_root
from service.documents.options import PdfLimits, PdfOptions
from service.ocr.decode import DecodeLimits
from service.ocr.types import OPTION_NAMES, DetOptions, OcrOptions

# The reading flow's own defaults (service/ocr): each value is written once, there.
_OPT, _DET, _LIM = OcrOptions(), DetOptions(), DecodeLimits()
_PDF, _PDF_LIM = PdfOptions(), PdfLimits()  # and the document layer's (service/documents)

# OCR_PROFILE=lean: the defaults it changes (an explicit OCR_* value still wins). Chosen one
# lever at a time by peak RSS, with accuracy checked against the default on every dev set
# (docs/benchmarks.md, "Lean and fast on CPU"). The detector's activations (~200 B per input
# pixel) dominate: no call exceeds 512 Ki pixels (a larger page is read shrunk, and a
# document's small text again at full size in strips; a 960 px input alone lost 2 points of
# exact lines on receipts). Without ONNX Runtime's arena and with large buffers mapped
# on their own, freed activations go back to the OS (-50 MB peak); the rest bounds what
# concurrent requests hold at once.
LEAN = MappingProxyType(
    {
        "cpu_mem_arena": False,
        "malloc_mmap_threshold": 2**20,
        "det_strip_pixels": 512 * 1024,
        "rec_batch_size": 8,
        "rec_batch_width": 480,
        "cpu_workers": 1,
        "pdf_pages_at_once": 1,
        "max_uploads": 8,
        "memory_budget_bytes": 128 * 2**20,
        "cache_memory_bytes": 8 * 2**20,
    }
)
PROFILES = {"default": MappingProxyType({}), "lean": LEAN}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OCR_", env_file=".env", extra="ignore")

    profile: Literal["default", "lean"] = Field(
        "default",
        description="lean: defaults bounded for ~300 MB peak RSS (bounded detector calls, smaller "
        "batches, fewer pages and uploads at once: see README, Profiles); explicit settings win.",
    )

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        """The profile's values fill in what the environment and arguments left unset."""
        if not isinstance(data, dict):
            return data
        return {**PROFILES.get(str(data.get("profile", "default")), {}), **data}

    # models
    model_set: str = Field("ppocr-v6-small", description="Default model set (name or alias).")
    model_dir: Path = Field(
        default_factory=default_store_root,
        description="Local model store; default $XDG_CACHE_HOME (~/.cache)/ocr-service/models.",
    )
    catalogue: Path = Field(
        DEFAULT_CATALOGUE, description="Catalogue YAML; default: the bundled one."
    )
    model_source_override: str = Field(
        "", description="Per-set source override: NAME=dir:/path;NAME=url:https://mirror/dir/"
    )
    verify_models: bool = Field(True, description="Check every model file's sha256 on load.")
    datasets_dir: Path = Field(
        Path("../shared/datasets"),
        description="Where `ocr eval/bench --dataset NAME` look NAME up (relative to the cwd).",
    )

    # engine (ONNX Runtime, CPU)
    intra_op_threads: int = Field(0, ge=0, description="Threads per inference; 0 = all cores.")
    inter_op_threads: int = Field(1, ge=0, description="Parallel graph branches.")
    cpu_mem_arena: bool = Field(True, description="ONNX Runtime CPU memory arena.")
    ort_shared_arena: bool = Field(
        True,
        description="det, cls and rec share one ONNX Runtime CPU arena: the process keeps the "
        "largest stage's peak, not the sum of all three.",
    )
    mem_pattern: bool = Field(False, description="ONNX Runtime memory-pattern planning.")
    malloc_mmap_threshold: int = Field(
        4 * 2**20,
        ge=0,
        description="glibc: allocations of at least this many bytes (decoded pages, detector "
        "inputs) are mapped on their own and returned to the OS when freed; 0 = glibc's own "
        "(rising) threshold.",
    )
    malloc_arena_max: int = Field(
        1,
        ge=0,
        description="glibc: malloc arenas shared by all threads; 0 = glibc's own (8 per core, "
        "where request threads' freed buffers pile up).",
    )
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field(
        "all", description="ONNX Runtime graph optimisation level."
    )
    ort_allow_spinning: bool = Field(
        False, description="Idle ONNX Runtime threads spin-wait (burns CPU; measured slower)."
    )

    # engines beyond ONNX Runtime on CPU (issue 5)
    engine: Literal["onnxruntime", "openvino", "torch", "auto"] = Field(
        "onnxruntime",
        description="Engine for ONNX-format sets (Paddle-format sets run on Paddle Inference). "
        "auto: at start-up, the fastest on a probe page of ONNX Runtime fp32 and OpenVINO f32 / "
        "bf16 (bf16 only where the CPU has it natively and the set's accuracy-gate verdict "
        "admits it); the choice is logged and shown in /v1/models.",
    )
    openvino_precision: Literal["f32", "bf16", "auto"] = Field(
        "f32", description="OpenVINO CPU precision; bf16 is faster where the CPU has it."
    )
    ort_providers: str = Field(
        "cpu",
        description="ONNX Runtime providers in priority order (tensorrt,cuda,cpu); "
        "missing ones are skipped with a log line.",
    )
    gpu_device_id: int = Field(0, ge=0, description="CUDA device for GPU engines.")
    ort_cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = Field(
        "EXHAUSTIVE", description="CUDA provider conv algorithm search (once per input shape)."
    )
    ort_trt_cache_dir: Path | None = Field(
        None, description="TensorRT engine cache directory (mount a volume); unset = no cache."
    )
    ort_trt_fp16: bool = Field(False, description="TensorRT provider may run layers in FP16.")
    torch_device: Literal["auto", "cuda", "cpu"] = Field(
        "auto", description="Torch engine device; auto = CUDA when available, else CPU."
    )
    torch_dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="Torch engine precision; auto = float16 on CUDA, float32 on CPU."
    )
    torch_cuda_graphs: bool = Field(
        False, description="Torch engine replays CUDA graphs per bucket shape (CUDA only)."
    )
    paddle_mkldnn: bool = Field(True, description="Paddle Inference uses oneDNN on CPU.")
    paddle_device: Literal["auto", "gpu", "cpu"] = Field(
        "auto", description="Paddle Inference device; auto = GPU with a CUDA build of paddle."
    )
    paddle_mkldnn_cache_capacity: int = Field(
        10,
        ge=0,
        description="oneDNN primitive cache per Paddle model (input shapes); 0 = unbounded "
        "(grows ~15 MiB per new page shape).",
    )
    det_buckets: str = Field(
        "",
        pattern=r"^\s*(\d+\s*(,\s*\d+\s*)*)?$",
        description="Detector input buckets (px, comma list): pad H and W up to the next one "
        "so GPU kernels see few shapes; empty = multiples of 32.",
    )

    # input limits
    max_upload_bytes: int = Field(_LIM.max_bytes, gt=0, description="Largest accepted body.")
    max_image_pixels: int = Field(
        _LIM.max_pixels, gt=0, description="Largest width*height decoded."
    )
    max_image_side: int = Field(_LIM.max_side, gt=0, description="Largest width or height decoded.")

    # PDF input (issue 12)
    max_pdf_pages: int = Field(
        _PDF_LIM.max_pages, ge=1, description="Pages read from one PDF (those selected); more: 413."
    )
    pdf_dpi: int = Field(
        _PDF.dpi,
        ge=36,
        le=600,
        description="Resolution PDF pages are rendered at (request: dpi). 250: the lowest at "
        "which receipts (80 mm) read as well as at any DPI measured, ~29 px text lines; forms "
        "read as well from 100 to 250 (docs/benchmarks.md).",
    )
    skip_text_pages: bool = Field(
        _PDF.skip_text_pages,
        description="Leave PDF pages that already have a text layer unread (their own text is "
        "returned).",
    )
    pdf_pages_at_once: int = Field(
        4,
        ge=1,
        le=64,
        description="Pages of one PDF rendered and read at once (they share batches; each holds "
        "its pixels).",
    )

    # pipeline defaults (each overridable per request)
    det_limit_side_len: int = Field(
        _DET.limit_side_len, ge=32, le=4096, description="Detector input side limit."
    )
    det_limit_type: Literal["max", "min"] = Field(
        _DET.limit_type, description="max: longest side <= limit; min: shortest side >= limit."
    )
    det_thresh: float = Field(_DET.thresh, gt=0, lt=1, description="DB binarisation threshold.")
    det_box_thresh: float = Field(
        _DET.box_thresh, gt=0, lt=1, description="Minimum mean box probability."
    )
    det_unclip_ratio: float = Field(
        _DET.unclip_ratio, gt=0, le=5, description="DB box expansion ratio."
    )
    use_cls: bool = Field(_OPT.use_cls, description="Run the 0/180 text-line classifier.")
    cls_thresh: float = Field(
        _OPT.cls_thresh, ge=0, le=1, description="Flip a line only above this score."
    )
    decoder: Literal["greedy", "beam"] = Field(_OPT.decoder, description="CTC decoding.")
    beam_width: int = Field(
        _OPT.beam_width, ge=1, le=50, description="Beam width for decoder=beam."
    )
    drop_score: float = Field(
        _OPT.drop_score, ge=0, le=1, description="Drop lines read below this score."
    )
    det_strip_pixels: int = Field(
        0,
        ge=0,
        description="Detector inputs over this many pixels are read shrunk to this many, and a "
        "document's small text again in overlapping full-size strips of at most this many "
        "(bounds RAM: ~200 B per pixel); 0 = whole image at once.",
    )
    rec_batch_size: int = Field(16, ge=1, le=256, description="Max crops per rec inference.")
    rec_batch_width: int = Field(
        960, ge=64, description="Max padded width per rec batch (rows x bucket px): bounds RAM."
    )

    # HTTP server (`ocr serve`)
    host: str = Field("127.0.0.1", description="Listen address (0.0.0.0 in containers).")
    port: int = Field(8000, ge=1, le=65535, description="Listen port.")
    serve_model_sets: str = Field(
        "", description="Model sets loaded at start (comma list or 'all'); default: model_set."
    )
    max_batch_images: int = Field(16, ge=1, le=256, description="Images per /v1/ocr/batch call.")
    max_batch_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest /v1/ocr/batch body (all images)."
    )
    request_timeout_s: float = Field(30.0, gt=0, description="Per-request OCR time limit (504).")
    drain_timeout_s: float = Field(
        30.0, ge=0, description="SIGTERM: longest wait for accepted requests to finish."
    )
    shutdown_delay_s: float = Field(
        0.0, ge=0, description="SIGTERM: keep serving (readyz 503) this long before closing."
    )
    log_json: bool = Field(True, description="`ocr serve` logs one JSON object per line.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )

    # dynamic batching and admission (per stage: det, cls, rec)
    cpu_workers: int = Field(2, ge=1, le=64, description="Threads for pre/post-processing.")
    inference_concurrency: int = Field(
        1, ge=0, le=16, description="Engine calls running at once across stages; 0 = no limit."
    )
    max_inflight: int = Field(64, ge=1, description="Requests in the pipeline before 429.")
    # 1 on CPU: batching pages gives no throughput here and holds ~140 MB more at 8 clients
    # (docs/benchmarks.md, "det batches on CPU"); GPU deployments set 8 (k8s/overlays/gpu).
    det_max_batch: int = Field(1, ge=1, le=64, description="Images per det batch (same shape).")
    det_batch_pixels: int = Field(
        1280 * 1280,
        ge=1024,
        description="Padded pixels per det batch: bounds RAM (~200 B per pixel).",
    )
    det_max_wait_ms: float = Field(2.0, ge=0, description="Longest det batch fill wait.")
    det_max_queue: int = Field(64, ge=1, description="Queued det images before 429.")
    cls_max_batch: int = Field(64, ge=1, le=1024, description="Rows per cls batch.")
    cls_max_wait_ms: float = Field(2.0, ge=0, description="Longest cls batch fill wait.")
    cls_max_queue: int = Field(4096, ge=1, description="Queued cls rows before 429.")
    rec_max_wait_ms: float = Field(5.0, ge=0, description="Longest rec batch fill wait.")
    rec_max_queue: int = Field(4096, ge=1, description="Queued rec rows before 429.")

    # result cache
    redis_url: str | None = Field(
        None, description="redis://host:6379/0 for a shared cache; unset = in-process LRU."
    )
    cache_memory_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="In-process cache size; 0 with no Redis = off."
    )
    cache_ttl_s: int = Field(86_400, gt=0, description="Cached result lifetime.")
    cache_timeout_ms: float = Field(
        100.0, gt=0, description="Redis op time limit; slower = served uncached."
    )

    # hostile input and access (issue 16)
    keepalive_timeout_s: int = Field(
        15, ge=1, description="An idle keep-alive connection is closed after this."
    )
    header_timeout_s: float = Field(
        15.0, gt=0, description="A connection must finish a request's headers within this."
    )
    body_timeout_s: float = Field(
        60.0, gt=0, description="Longest wait for the next chunk of a request body (408)."
    )
    max_connections: int = Field(
        512, ge=1, description="Open connections (or requests) before new requests get 503."
    )
    max_uploads: int = Field(
        32, ge=1, description="Request bodies being received at once before 429 (bounds RAM)."
    )
    api_keys: str = Field(
        "",
        pattern=r"^\s*([0-9a-fA-F]{64}\s*(,\s*[0-9a-fA-F]{64}\s*)*)?$",
        description="SHA-256 hex digests of the accepted API keys (comma list; `ocr keys`); "
        "empty = no authentication.",
    )
    api_key_rate_per_min: int = Field(
        0, ge=0, description="Requests per minute per API key, per replica (429); 0 = no quota."
    )

    # memory and time budget (issue 16)
    memory_budget_bytes: int = Field(
        320 * 1024 * 1024,
        ge=16 * 1024 * 1024,
        description="Bytes of images being read at once (decoding peak, then pixels and detector "
        "tensors, estimated from each header) before 429; an image needing more is 413.",
    )
    max_det_pixels: int = Field(
        1280 * 1280,
        ge=32 * 32,
        description="Detector input pixels one image may ask for (det_limit_side_len and "
        "det_limit_type decide them); more is 422. The detector holds ~200 B per input pixel.",
    )
    max_beam_width: int = Field(
        10, ge=1, le=50, description="Largest beam_width a request may ask for (422 above)."
    )
    max_jpeg_scans: int = Field(
        _LIM.max_jpeg_scans,
        ge=1,
        description="Scans in one JPEG (each is a pass over the whole image); more is 422.",
    )
    admit_within_s: float = Field(
        0.0,
        ge=0,
        description="Refuse (429) a request not expected to finish within this, from the work "
        "in flight and the measured rate; 0 = 3/4 of the request timeout.",
    )

    # asynchronous jobs (issue 13): in-process without OCR_REDIS_URL, shared through Redis with it
    job_workers: int = Field(
        1,
        ge=0,
        le=16,
        description="Job pages this replica reads at once (behind interactive requests); "
        "0 = it only accepts and answers jobs.",
    )
    job_lag_s: float = Field(
        10.0,
        ge=0,
        le=60,
        description="Job pages queue in the batchers as if they came this much later "
        "(interactive requests go first); 0 = arrival order.",
    )
    job_max_pages: int = Field(300, ge=1, description="Pages in one job (413 above).")
    job_max_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest POST /v1/jobs body (all files)."
    )
    job_max_queued: int = Field(
        100, ge=1, description="Unfinished jobs in total before 429 (checked at submission)."
    )
    job_max_queued_per_client: int = Field(
        10, ge=1, description="Unfinished jobs per client (API key, else address) before 429."
    )
    job_ttl_s: int = Field(
        86_400,
        gt=0,
        description="A finished (or cancelled) job and its result are kept this long, then 404 "
        "JOB_EXPIRED.",
    )
    job_claim_idle_s: float = Field(
        120.0,
        gt=0,
        description="Redis: a page taken this long ago and not finished is taken over by "
        "another replica (its owner died); keep it above the request timeout.",
    )
    job_result_pages: int = Field(
        50, ge=1, le=1000, description="Pages per GET /v1/jobs/{id}/result response."
    )
    job_callback_allow: str = Field(
        "",
        description="URL prefixes a job's completion callback may post to (comma list); "
        "empty = callbacks refused (the service never posts to arbitrary URLs).",
    )

    # PaddleX-serving compatible POST /ocr (issue 13)
    paddlex_file_url_allow: str = Field(
        "",
        description="URL prefixes POST /ocr may fetch `file` from (comma list); empty = `file` "
        "must be base64 (the service never fetches arbitrary URLs).",
    )

    def ocr_options(self) -> OcrOptions:
        """The reading options every request starts from (requests override them)."""
        return OcrOptions().updated({k: v for k, v in self if k in OPTION_NAMES})

    def pdf_options(self) -> PdfOptions:
        """How every request's PDF becomes pages (requests override dpi, pages, skipping)."""
        return PdfOptions(dpi=self.pdf_dpi, skip_text_pages=self.skip_text_pages)

    def pdf_limits(self) -> PdfLimits:
        return PdfLimits(self.max_pdf_pages, self.decode_limits())

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(
            self.max_upload_bytes, self.max_image_pixels, self.max_image_side, self.max_jpeg_scans
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
