"""``OCR_ENGINE=auto``: the engine and precision a model set runs in, chosen at start-up by
measurement.

Candidates are what each CPU engine declares it runs natively on this host
(``host_precisions()``: ONNX Runtime fp32; OpenVINO f32, and bf16 where the CPU has AVX512_BF16
or AMX). A precision below fp32 is a candidate only when the set's catalogue entry records an
admitting verdict of the accuracy gate for it (``engine_gate``): the gate runs thousands of
lines and takes many minutes, so it is run once, offline, and its verdict travels with the
set, as a derived set's ``admission`` does. fp32 engines match ONNX Runtime within 1e-5 and
need none. Every candidate opens the set and reads a small synthetic page, once to warm up,
then in turns; the fastest (by its best read) is kept, the others are closed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from models.registry.catalogue import ModelSet
from service.engines.base import EngineBase
from service.engines.onnxruntime import OnnxEngine
from service.engines.openvino import OpenVinoEngine
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import Image, OcrOptions
from service.settings import Settings

log = logging.getLogger(__name__)

# The engines auto chooses among (settings' names); torch and paddle are not CPU-fast paths.
ENGINES: Mapping[str, type[EngineBase]] = {"onnxruntime": OnnxEngine, "openvino": OpenVinoEngine}
ROUNDS = 3  # timed reads of the probe page per candidate (the fastest counts)
Loader = Callable[[Settings, ModelSet], OcrPipeline]


@dataclass(frozen=True)
class Candidate:
    engine: str  # a value of OCR_ENGINE
    precision: str  # "f32" | "bf16"

    @property
    def key(self) -> str:
        return f"{self.engine}-{self.precision}"


@dataclass(frozen=True)
class EngineChoice:
    chosen: Candidate
    seconds: Mapping[str, float]  # candidate key -> best probe-page time
    passed_over: Mapping[str, str]  # candidate key -> why it was not measured

    def reason(self) -> str:
        """One line for /v1/models and the log."""
        timed = ", ".join(f"{k} {s:.3f} s" for k, s in sorted(self.seconds.items(), key=_second))
        why = f"auto: fastest on the probe page ({timed})"
        if self.passed_over:
            why += "; not tried: " + ", ".join(f"{k} ({v})" for k, v in self.passed_over.items())
        return why


def _second(item: tuple[str, float]) -> float:
    return item[1]


def candidates(
    ms: ModelSet, host: Mapping[str, tuple[str, ...]]
) -> tuple[list[Candidate], dict[str, str]]:
    """Pure: (the candidates to measure, {key: why not} for the others). ``host`` maps each
    engine to its ``host_precisions()``."""
    chosen: list[Candidate] = []
    passed_over: dict[str, str] = {}
    for engine, precisions in host.items():
        if not precisions:
            passed_over[engine] = "not installed"
        for precision in precisions:
            c = Candidate(engine, precision)
            verdict = ms.engine_gate.get(c.key)
            if precision == "f32" or (verdict is not None and verdict.admitted):
                chosen.append(c)
            elif verdict is None:
                passed_over[c.key] = "no accuracy-gate verdict for this set"
            else:
                passed_over[c.key] = f"refused by the gate (-{verdict.worst_loss_points} points)"
    return chosen, passed_over


def probe_page() -> Image:
    """A small synthetic page (no file to ship): dark lines of text of several lengths on
    white, so detection, classification and a few recogniser buckets all run."""
    pixels = np.full((320, 480, 3), 255, np.uint8)
    lines = ("TOTAL 12.50", "Invoice no. 2026-0412", "The quick brown fox jumps", "Qty 3 x 4.17")
    for i, text in enumerate(lines * 2):
        y = 40 + i * 36
        cv2.putText(pixels, text, (20, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 + 0.1 * (i % 3), 0, 2)
    return Image(pixels=pixels, format="png")


def time_probes(
    pipelines: Mapping[str, OcrPipeline], page: Image, options: OcrOptions
) -> dict[str, float]:
    """Each pipeline's fastest of ``ROUNDS`` reads of ``page`` after one warm read, the
    candidates taking turns within every round, so a busy machine slows them all alike."""
    for pipeline in pipelines.values():
        pipeline.run(page, options)
    best = dict.fromkeys(pipelines, float("inf"))
    for _ in range(ROUNDS):
        for key, pipeline in pipelines.items():
            start = time.perf_counter()
            pipeline.run(page, options)
            best[key] = min(best[key], time.perf_counter() - start)
    return best


def settings_for(s: Settings, c: Candidate, trial: bool = False) -> Settings:
    """The settings that run candidate ``c``. A trial opens ONNX Runtime sessions with their
    own arenas: the process-wide shared arena would keep a losing trial's peak for good."""
    update: dict[str, object] = {"engine": c.engine, "openvino_precision": c.precision}
    if trial:
        update["ort_shared_arena"] = False
    return s.model_copy(update=update)


def choose_engine(s: Settings, ms: ModelSet, load: Loader) -> OcrPipeline:
    """Open ``ms`` on every candidate, keep the fastest; the choice and why on the pipeline."""
    host = {name: engine.host_precisions() for name, engine in ENGINES.items()}
    found, passed_over = candidates(ms, host)
    if not found:  # ONNX Runtime is a core dependency: never empty
        raise RuntimeError("OCR_ENGINE=auto found no engine to run")
    trials = {c.key: load(settings_for(s, c, trial=True), ms) for c in found}
    seconds = time_probes(trials, probe_page(), s.ocr_options())
    winner = min(found, key=lambda c: seconds[c.key])
    pipeline = trials.pop(winner.key)
    trials.clear()  # the losers' engines close here
    if winner.engine == "onnxruntime" and s.ort_shared_arena:
        del pipeline  # the trial's own arenas close before the configured one opens
        pipeline = load(settings_for(s, winner), ms)
    pipeline.engine_choice = EngineChoice(winner, seconds, passed_over).reason()
    log.info("model set %s: engine %s chosen; %s", ms.name, winner.key, pipeline.engine_choice)
    return pipeline
