"""One validated settings tree. Every field is an `OCR_*` environment variable (or .env entry).

The README's configuration table lists them; `ocr config` prints the effective values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OCR_", env_file=".env", extra="ignore")

    # models
    model_set: str = Field("ppocr-v6-small", description="Default model set (name or alias).")
    model_dir: Path | None = Field(
        None, description="Local model store; default ~/.cache/ocr-service/models."
    )
    catalogue: Path | None = Field(None, description="Catalogue YAML; default: the bundled one.")
    model_source_override: str = Field(
        "", description="Per-set source override: NAME=dir:/path;NAME=url:https://mirror/dir/"
    )
    verify_models: bool = Field(True, description="Check every model file's sha256 on load.")

    # engine (ONNX Runtime, CPU)
    intra_op_threads: int = Field(0, ge=0, description="Threads per inference; 0 = all cores.")
    inter_op_threads: int = Field(1, ge=0, description="Parallel graph branches.")
    cpu_mem_arena: bool = Field(True, description="ONNX Runtime CPU memory arena.")
    mem_pattern: bool = Field(False, description="ONNX Runtime memory-pattern planning.")
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field(
        "all", description="ONNX Runtime graph optimisation level."
    )

    # input limits
    max_upload_bytes: int = Field(20 * 1024 * 1024, gt=0, description="Largest accepted body.")
    max_image_pixels: int = Field(40_000_000, gt=0, description="Largest width*height decoded.")
    max_image_side: int = Field(16_384, gt=0, description="Largest width or height decoded.")

    # pipeline defaults (each overridable per request)
    det_limit_side_len: int = Field(1280, ge=32, le=4096, description="Detector input side limit.")
    det_limit_type: Literal["max", "min"] = Field(
        "max", description="max: longest side <= limit; min: shortest side >= limit."
    )
    det_thresh: float = Field(0.3, gt=0, lt=1, description="DB binarisation threshold.")
    det_box_thresh: float = Field(0.6, gt=0, lt=1, description="Minimum mean box probability.")
    det_unclip_ratio: float = Field(1.5, gt=0, le=5, description="DB box expansion ratio.")
    use_cls: bool = Field(True, description="Run the 0/180 text-line classifier.")
    cls_thresh: float = Field(0.9, ge=0, le=1, description="Flip a line only above this score.")
    decoder: Literal["greedy", "beam"] = Field("greedy", description="CTC decoding.")
    beam_width: int = Field(5, ge=1, le=50, description="Beam width for decoder=beam.")
    drop_score: float = Field(0.5, ge=0, le=1, description="Drop lines read below this score.")
    rec_batch_size: int = Field(16, ge=1, le=256, description="Max crops per rec inference.")
    rec_batch_width: int = Field(
        960, ge=64, description="Max padded width per rec batch (rows x bucket px): bounds RAM."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
