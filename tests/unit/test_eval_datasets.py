"""Dataset loading: kinds, protocols, don't-care flags, slicing (models/eval/datasets.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.eval.datasets import detect_kind, load_dataset
from models.eval.protocol import Protocol

BOX = [[0, 0], [10, 0], [10, 5], [0, 5]]


def write_set(root: Path, records: list[dict[str, Any]]) -> Path:
    root.mkdir(parents=True)
    with (root / "labels.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.write("\n")  # a trailing blank line is tolerated
    return root


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        ({"image": "a.jpg", "lines": [{"points": BOX, "text": "x"}]}, "page"),
        ({"image": "a.jpg", "lines": []}, "page"),
        ({"image": "a.png", "text": "x"}, "crop"),
        ({"image": "a.png", "angle": 180, "text": "x", "source": "iiit5k_train/x"}, "angle"),
    ],
)
def test_detect_kind(record: dict[str, Any], kind: str) -> None:
    assert detect_kind(record) == kind


def test_unknown_and_mixed_records_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unrecognised"):
        detect_kind({"image": "a.png"})
    mixed = write_set(tmp_path / "mixed", [{"image": "a", "text": "x"}, {"image": "b", "angle": 0}])
    with pytest.raises(ValueError, match="one record kind"):
        load_dataset(mixed)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    (root / "labels.jsonl").write_text('{"image": "a", "text": "x"}\n{oops\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.jsonl:2"):
        load_dataset(root)


def test_page_set_flags_and_protocol(tmp_path: Path) -> None:
    lines = [
        {"points": BOX, "text": "TOTAL"},
        {"points": BOX, "text": "###"},
        {"points": BOX, "text": "***"},
        {"points": BOX, "text": "X", "difficult": True},
        {"points": BOX, "text": None},
    ]
    ds = load_dataset(write_set(tmp_path / "sroie_x", [{"image": "images/r.jpg", "lines": lines}]))
    assert ds.kind == "page" and ds.name == "sroie_x"
    assert ds.protocol.case_insensitive
    assert [ln.ignore for ln in ds.samples[0].lines] == [False, True, True, True, True]
    assert ds.samples[0].lines[0].points == ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0))
    assert ds.image_path(ds.samples[0]) == tmp_path.resolve() / "sroie_x" / "images" / "r.jpg"


def test_star_text_is_care_outside_sroie(tmp_path: Path) -> None:
    rec = {"image": "f.png", "lines": [{"points": BOX, "text": "***"}]}
    ds = load_dataset(write_set(tmp_path / "funsd_x", [rec]))
    assert not ds.samples[0].lines[0].ignore


def test_untranscribed_page_set_is_detection_only(tmp_path: Path) -> None:
    lines = [
        {"points": BOX, "text": None, "difficult": False, "ignore": False},
        {"points": BOX, "text": None, "difficult": True, "ignore": True},
    ]
    ds = load_dataset(write_set(tmp_path / "some_scene_set", [{"image": "i.jpg", "lines": lines}]))
    assert not ds.protocol.has_text
    assert [ln.ignore for ln in ds.samples[0].lines] == [False, True]


def test_protocol_override_and_with_protocol(tmp_path: Path) -> None:
    root = write_set(tmp_path / "iiit5k_x", [{"image": "a.png", "text": "Ab"}])
    assert load_dataset(root).protocol.alnum_only
    assert load_dataset(root, protocol=Protocol()).protocol == Protocol()
    assert load_dataset(root, name="plates").name == "plates"
    changed = load_dataset(root).with_protocol(case_insensitive=False)
    assert not changed.protocol.case_insensitive and changed.protocol.alnum_only


def test_angle_set(tmp_path: Path) -> None:
    rec = {"image": "a.png", "angle": 180, "text": "UP", "source": "sroie_x/images/1.png"}
    ds = load_dataset(write_set(tmp_path / "angle_cls_x", [rec]))
    s = ds.samples[0]
    assert (ds.kind, s.angle, s.text, s.source) == ("angle", 180, "UP", "sroie_x/images/1.png")
    bad = write_set(tmp_path / "angle_bad", [{"image": "b.png", "angle": 90}])
    with pytest.raises(ValueError, match="0 or 180"):
        load_dataset(bad)


def test_slicing_is_deterministic_file_order(tmp_path: Path) -> None:
    names = [f"images/{n}.png" for n in ("q", "b", "z", "a", "m", "c", "x")]  # not sorted
    root = write_set(tmp_path / "crops", [{"image": n, "text": n[-5]} for n in names])
    full = load_dataset(root)
    assert [s.image for s in full.samples] == names
    assert full.total == len(full) == 7
    part = load_dataset(root, limit=3, offset=2)
    assert [s.image for s in part.samples] == names[2:5]
    assert (part.offset, part.total) == (2, 7)
    assert load_dataset(root, limit=3, offset=2) == part  # same slice every time
    assert [s.image for s in load_dataset(root, limit=10, offset=5).samples] == names[5:]
    assert len(load_dataset(root, offset=20)) == 0
    assert len(load_dataset(root, limit=0)) == 0
    with pytest.raises(ValueError):
        load_dataset(root, offset=-1)
