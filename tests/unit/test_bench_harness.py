"""Unit tests for the benchmark harness (models/eval/bench.py)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest

from models.eval import bench
from models.eval.bench import BenchRecorder

SUMMARY_KEYS = {
    "system",
    "dataset",
    "threads",
    "n_images",
    "latency_ms",
    "images_per_s",
    "peak_rss_mb",
    "cold_start_s",
    "load_s",
}


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 95.0, 5.0),
        ([1.0, 2.0], 50.0, 1.5),
        ([1.0, 2.0, 3.0, 4.0], 0.0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100.0, 4.0),
        ([4.0, 1.0, 3.0, 2.0], 50.0, 2.5),
        (list(range(1, 21)), 95.0, 19.05),  # numpy.percentile(range(1, 21), 95) == 19.05
        (list(range(101)), 95.0, 95.0),
    ],
)
def test_percentile_matches_linear_interpolation(
    values: list[float], q: float, expected: float
) -> None:
    assert bench.percentile(values, q) == pytest.approx(expected)


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        bench.percentile([], 50.0)
    with pytest.raises(ValueError):
        bench.percentile([1.0], 101.0)


def test_summary_statistics_from_recorded_latencies() -> None:
    rec = BenchRecorder("peer", "set", threads=2, config={"k": "v"})
    latencies = [0.010, 0.020, 0.030, 0.040, 0.100]
    end = 100.0
    for s in latencies:
        end += s
        rec.record(s, end=end)
    out = rec.summary()
    assert out.keys() >= SUMMARY_KEYS
    assert out["n_images"] == 5
    assert out["threads"] == 2
    assert out["config"] == {"k": "v"}
    lat = out["latency_ms"]
    assert lat["median"] == pytest.approx(30.0)
    assert lat["mean"] == pytest.approx(statistics.fmean(latencies) * 1000)
    assert lat["p95"] == pytest.approx(88.0)  # 40 + 0.8 * (100 - 40)
    # back-to-back records: wall time == sum of latencies
    assert out["images_per_s"] == pytest.approx(5 / sum(latencies))
    assert out["peak_rss_mb"] > 1.0
    assert out["cold_start_s"] is not None and out["cold_start_s"] > 0


def test_measure_and_load_context_managers() -> None:
    rec = BenchRecorder("peer", "set", threads=1)
    with rec.load():
        pass
    for _ in range(3):
        with rec.measure():
            sum(range(1000))
    out = rec.summary()
    assert out["load_s"] is not None and out["load_s"] >= 0
    assert out["n_images"] == 3
    assert out["latency_ms"]["median"] >= 0
    assert out["images_per_s"] is not None and out["images_per_s"] > 0


def test_empty_summary_has_all_keys() -> None:
    out = BenchRecorder("peer", "set", threads=1).summary()
    assert out.keys() >= SUMMARY_KEYS
    assert out["n_images"] == 0
    assert out["latency_ms"] == {"median": None, "p95": None, "mean": None, "each": []}
    assert out["images_per_s"] is None
    json.dumps(out)  # serialisable as is


def test_write_predictions_round_trip(tmp_path: Path) -> None:
    records = [
        {
            "image": "images/a.jpg",
            "lines": [
                {"points": [[0, 0], [9, 0], [9, 5], [0, 5]], "text": "TOTAL 9.90", "score": 0.98}
            ],
        },
        {"image": "images/b.png", "text": "皖A12345", "score": 0.5},
        {"image": "images/c.png", "lines": []},
    ]
    path = tmp_path / "out" / "p.predictions.jsonl"
    assert bench.write_predictions(path, records) == 3
    assert bench.read_jsonl(path) == records
    assert "皖" in path.read_text(encoding="utf-8")  # non-ASCII written as is
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


def test_set_thread_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in bench.THREAD_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    values = bench.set_thread_env(3)
    assert set(values) == set(bench.THREAD_ENV_VARS)
    assert all(os.environ[name] == "3" for name in bench.THREAD_ENV_VARS)
    assert bench.thread_env() == values
    with pytest.raises(ValueError):
        bench.set_thread_env(0)
