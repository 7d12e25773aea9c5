"""OCR_ENGINE=auto (service/runtime/auto.py): candidates from declared host precisions and
recorded gate verdicts; the fastest on the probe page wins. Fake engines, no model files."""

from __future__ import annotations

import time
from typing import Any

import pytest

from models.registry.catalogue import EngineVerdict, ModelSet, load_catalogue
from service.engines.base import EngineBase
from service.engines.openvino import native_precisions
from service.runtime import auto
from service.settings import Settings

ADMITTED = EngineVerdict(admitted=True, worst_loss_points=0.34, measured="2026-11-24")
REFUSED = EngineVerdict(admitted=False, worst_loss_points=7.7, measured="2026-11-24")


def _set(**gate: EngineVerdict) -> ModelSet:
    return load_catalogue().get("ppocr-v6-small").model_copy(update={"engine_gate": gate})


HOST = {"onnxruntime": ("f32",), "openvino": ("f32", "bf16")}


def test_bf16_is_a_candidate_only_with_an_admitting_verdict() -> None:
    found, _ = auto.candidates(_set(**{"openvino-bf16": ADMITTED}), HOST)
    assert [c.key for c in found] == ["onnxruntime-f32", "openvino-f32", "openvino-bf16"]
    found, why = auto.candidates(_set(), HOST)
    assert "openvino-bf16" not in [c.key for c in found]
    assert "no accuracy-gate verdict" in why["openvino-bf16"]
    found, why = auto.candidates(_set(**{"openvino-bf16": REFUSED}), HOST)
    assert "openvino-bf16" not in [c.key for c in found]
    assert "refused" in why["openvino-bf16"]


def test_a_cpu_without_native_bf16_or_openvino_keeps_fp32() -> None:
    host = {"onnxruntime": ("f32",), "openvino": native_precisions(("FP32", "INT8"))}
    found, _ = auto.candidates(_set(**{"openvino-bf16": ADMITTED}), host)
    assert [c.key for c in found] == ["onnxruntime-f32", "openvino-f32"]
    found, why = auto.candidates(_set(), {"onnxruntime": ("f32",), "openvino": ()})
    assert [c.key for c in found] == ["onnxruntime-f32"]
    assert why == {"openvino": "not installed"}
    assert native_precisions(("FP32", "BF16", "INT8")) == ("f32", "bf16")
    assert native_precisions(None) == ()


class _FakePipeline:
    """Reads the probe page in ``seconds``; remembers the settings it was opened with."""

    def __init__(self, s: Settings, seconds: float) -> None:
        self.settings, self.seconds = s, seconds
        self.engine, self.engine_choice = f"{s.engine} {s.openvino_precision}", ""

    def run(self, page: Any, options: Any) -> None:
        time.sleep(self.seconds)


def _engines(host: dict[str, tuple[str, ...]]) -> dict[str, type[EngineBase]]:
    def engine(precisions: tuple[str, ...]) -> type[EngineBase]:
        return type("Fake", (EngineBase,), {"host_precisions": classmethod(lambda c: precisions)})

    return {name: engine(p) for name, p in host.items()}


@pytest.mark.parametrize(
    ("speeds", "winner"),
    [
        ({"onnxruntime-f32": 0.02, "openvino-f32": 0.03, "openvino-bf16": 0.001}, "openvino bf16"),
        ({"onnxruntime-f32": 0.001, "openvino-f32": 0.03, "openvino-bf16": 0.02}, "onnxruntime"),
    ],
)
def test_the_fastest_candidate_is_kept_and_says_why(
    monkeypatch: pytest.MonkeyPatch, speeds: dict[str, float], winner: str
) -> None:
    monkeypatch.setattr(auto, "ENGINES", _engines(HOST))
    opened: list[Settings] = []

    def load(s: Settings, ms: ModelSet) -> Any:
        opened.append(s)
        return _FakePipeline(s, speeds[f"{s.engine}-{s.openvino_precision}"])

    s = Settings(engine="auto", _env_file=None)  # type: ignore[call-arg]
    pipeline = auto.choose_engine(s, _set(**{"openvino-bf16": ADMITTED}), load)
    assert pipeline.engine.startswith(winner)
    assert pipeline.engine_choice.startswith("auto: fastest on the probe page")
    assert all(key in pipeline.engine_choice for key in speeds)
    assert all(not o.ort_shared_arena for o in opened[:3])  # trials: arenas of their own
    if winner == "onnxruntime":  # reopened with the configured, shared arena
        assert opened[-1].ort_shared_arena and opened[-1].engine == "onnxruntime"


def test_the_probe_page_has_text_lines() -> None:
    page = auto.probe_page()
    assert page.pixels.shape == (320, 480, 3)
    assert (page.pixels < 128).any(axis=2).sum() > 1000  # dark glyph pixels
