"""TextRecognizer logic with a fake engine (no model files).

The fake "reads" synthetic lines: a character k is a solid block of gray level 10*k on a white
background, 48 px tall. Each 8-px column group is one time step: white -> blank, pure padding ->
the visible symbol "#" (so decoding padding steps would show), a block -> its class, emitted as a
CTC-like spike on one step of the block: the first step for the row's even-numbered blocks, the
last for its odd ones (so two windows of one line may place a character up to two steps apart). Its
confidence depends on the whole row (so a row padded differently would score differently), and it
misreads characters within 16 px of a row's edges, as a real model with cut context may.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.codec import Charset, Decoder, greedy_decode
from models.codec.stitch import join_windows, stitch
from models.codec.topk import TopK
from service.engines.base import EngineBase, Tensor, TopKArrays
from service.ocr.errors import ModelError
from service.ocr.recognize import (
    RecShape,
    TextRecognizer,
    choose,
    preprocess,
    views,
    weigh_space,
    window_offsets,
)
from service.ocr.types import Pixels, Recognition

SYMBOLS = "abcdefghijklmnopqrst"  # class k = 1..20 is drawn with gray level 10*k
PAD_SYMBOL = "#"
CHARSET = Charset([*SYMBOLS, PAD_SYMBOL, "?"], use_space=False)
PAD_CLASS = len(SYMBOLS) + 1
WRONG_CLASS = len(SYMBOLS) + 2
HEIGHT = 48


class FakeEngine(EngineBase):
    name = "fake"

    def __init__(self, num_classes: int = len(CHARSET), edge_px: int = 16) -> None:
        self.num_classes = num_classes
        self.edge_steps = edge_px // 8
        self.calls: list[tuple[int, ...]] = []

    def run(self, batch: Tensor) -> Tensor:
        self.calls.append(batch.shape)
        n, _, _, w = batch.shape
        steps = batch.transpose(0, 3, 1, 2).reshape(n, w // 8, -1)  # (N, T, 8*3*H)
        is_pad = np.all(steps == 0.0, axis=2)
        gray = (steps.mean(axis=2) * 0.5 + 0.5) * 255.0
        cls = np.where(gray > 250, 0, np.clip(np.rint(gray / 10), 1, len(SYMBOLS))).astype(int)
        cls[is_pad] = PAD_CLASS
        for i in range(n):
            content = int(np.count_nonzero(~is_pad[i]))
            cls[i, :content] = spikes(cls[i, :content])
            for t in [*range(self.edge_steps), *range(content - self.edge_steps, content)]:
                if 0 <= t < content and cls[i, t] != 0:
                    cls[i, t] = WRONG_CLASS
        peak = 0.8 + 0.1 * np.tanh(batch.mean(axis=(1, 2, 3)))  # depends on the whole row
        probs = np.full((n, w // 8, self.num_classes), 0.0, np.float32)
        probs += ((1 - peak) / (self.num_classes - 1))[:, None, None]
        np.put_along_axis(probs, cls[:, :, None], peak[:, None, None].astype(np.float32), axis=2)
        return probs


def spikes(steps: np.ndarray) -> np.ndarray:
    """Keep one step of every run of a character (alternately its first and last)."""
    out = np.zeros_like(steps)
    if steps.size == 0:
        return out
    starts = np.flatnonzero(np.diff(steps, prepend=-1) != 0)
    ends = np.append(starts[1:], steps.size) - 1
    runs = [(s, e) for s, e in zip(starts, ends, strict=True) if steps[s] != 0]
    for k, (s, e) in enumerate(runs):
        keep = e if k % 2 else s
        out[keep] = steps[keep]
    return out


def draw_line(text: str, char_px: int = 16, gap_px: int = 16, lead_px: int = 24) -> Pixels:
    """A 48-px-tall BGR line: white margins, per char a block and a white gap."""
    width = 2 * lead_px + len(text) * (char_px + gap_px)
    img = np.full((HEIGHT, width, 3), 255, np.uint8)
    x = lead_px
    for ch in text:
        img[:, x : x + char_px] = 10 * (SYMBOLS.index(ch) + 1)
        x += char_px + gap_px
    return img


def random_text(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list(SYMBOLS), size=n))


# The fake marks every padding step with PAD_CLASS, so these tests read no step past a row's
# content (step_margin=0); the margin the real models need has tests of its own below.
CUT = RecShape(step_margin=0)


def make(max_batch: int = 8) -> tuple[TextRecognizer, FakeEngine]:
    engine = FakeEngine()
    return TextRecognizer(engine, CHARSET, CUT, max_batch=max_batch), engine


BUCKET_CASES = [
    # (crop height, crop width, expected bucket(s))
    (48, 10, [80]),  # narrow crops are padded, not stretched
    (48, 80, [80]),
    (48, 81, [160]),
    (24, 100, [320]),  # resized to 48 x 200
    (96, 1000, [640]),  # 48 x 500
    (48, 960, [960]),
    (48, 961, [960, 160]),  # too long: two windows, the last one in a smaller bucket
    (48, 3000, [960, 960, 960, 640]),
]


@pytest.mark.parametrize("h,w,buckets", BUCKET_CASES)
def test_bucket_choice(h: int, w: int, buckets: list[int]) -> None:
    shape = RecShape(buckets=(80, 160, 320, 480, 640, 960), turn_ratio=float("inf"))
    rows = preprocess([np.full((h, w, 3), 255, np.uint8)], shape)
    assert [r.bucket for r in rows] == buckets
    assert all(r.tensor.shape == (3, HEIGHT, r.bucket) for r in rows)
    assert all(np.all(r.tensor[:, :, r.width :] == 0.0) for r in rows)  # pad value 0.0


@pytest.mark.parametrize(
    "width,window,overlap,expected",
    [(100, 960, 144, [0]), (960, 960, 144, [0]), (961, 960, 144, [0, 816]),
     (2000, 960, 144, [0, 816, 1632])],
)  # fmt: skip
def test_window_offsets(width: int, window: int, overlap: int, expected: list[int]) -> None:
    offsets = window_offsets(width, window, overlap)
    assert offsets == expected
    assert offsets[-1] + window >= width


def test_results_come_back_in_input_order_across_buckets() -> None:
    rng = np.random.default_rng(0)
    texts = [random_text(rng, int(n)) for n in rng.integers(1, 25, size=23)]
    rec, engine = make(max_batch=4)
    out = rec.recognize([draw_line(t) for t in texts])
    assert [r.text for r in out] == texts
    assert all(0.0 < r.score <= 1.0 for r in out)
    assert {s[3] for s in engine.calls} <= set(rec.shape.buckets)
    assert all(s[0] <= 4 for s in engine.calls)
    per_bucket: dict[int, int] = {}
    for row in rec.preprocess([draw_line(t) for t in texts]):
        per_bucket[row.bucket] = per_bucket.get(row.bucket, 0) + 1
    assert len(engine.calls) == sum(-(-n // 4) for n in per_bucket.values())


def test_padding_steps_are_not_decoded() -> None:
    rec, _ = make()
    out = rec.recognize([draw_line("ab")])  # 112 px in the 128 bucket: 2 pad steps read "#"
    assert out[0].text == "ab"


def test_same_crop_alone_or_among_32_neighbours_gives_identical_results() -> None:
    rng = np.random.default_rng(1)
    probes = [draw_line(random_text(rng, n)) for n in (1, 4, 9, 26, 40)]
    rec, _ = make(max_batch=32)
    alone = [rec.recognize([p])[0] for p in probes]
    for trial in range(3):
        crowd = [draw_line(random_text(rng, int(n))) for n in rng.integers(1, 40, size=32)]
        slots = rng.choice(32, size=len(probes), replace=False)
        for slot, probe in zip(slots, probes, strict=True):
            crowd[slot] = probe
        out = rec.recognize(crowd)
        for slot, expected in zip(slots, alone, strict=True):
            assert out[slot].text == expected.text, trial
            assert out[slot].score == pytest.approx(expected.score, abs=1e-6)


def test_row_tensor_depends_only_on_its_crop() -> None:
    crop = draw_line("abc")
    alone = preprocess([crop])
    crowd = preprocess([draw_line("q" * 30), crop, np.zeros((5, 400, 3), np.uint8)])
    mine = [r for r in crowd if r.crop == 1]
    assert len(mine) == len(alone) == 1
    assert np.array_equal(mine[0].tensor, alone[0].tensor)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_chars", [40, 75, 140])
def test_long_lines_are_split_and_merged_exactly(seed: int, n_chars: int) -> None:
    rng = np.random.default_rng(seed)
    text = random_text(rng, n_chars)
    char_px, gap_px = int(rng.choice([8, 16, 24])), int(rng.choice([8, 16]))
    line = draw_line(text, char_px=char_px, gap_px=gap_px)
    rec, _ = make()
    rows = rec.preprocess([line])
    assert len(rows) > 1 or line.shape[1] <= 960
    for decoder in (Decoder("greedy"), Decoder("beam", 3)):
        assert rec.recognize([line], decoder)[0].text == text


def test_long_line_of_one_repeated_character_keeps_its_count() -> None:
    rec, _ = make()
    for n in (31, 32, 33, 60, 61, 97):
        assert rec.recognize([draw_line("k" * n)])[0].text == "k" * n


def test_windows_have_fixed_overlap_and_bucket_shapes() -> None:
    rows = preprocess([draw_line("a" * 100)], RecShape(buckets=(160, 320, 480), overlap=96))
    assert [r.offset for r in rows][:3] == [0, 384, 768]
    assert all(r.width == 480 for r in rows[:-1])
    assert {r.bucket for r in rows} <= {160, 320, 480}
    assert RecShape(buckets=(160, 320, 480), overlap=96).bucket_for(481) == 480


def dense(steps: str) -> np.ndarray:
    """(T, C) probabilities with best path ``steps`` ('-' = blank), peak 0.9."""
    probs = np.full((len(steps), len(CHARSET)), 0.1 / (len(CHARSET) - 1), np.float32)
    for t, ch in enumerate(steps):
        probs[t, 0 if ch == "-" else CHARSET.encode(ch)[0]] = 0.9
    return probs


def table(steps: str) -> TopK:
    return TopK.from_probs(dense(steps), k=4)


def read(table: TopK) -> str:
    probs, ids = table.dense()
    return greedy_decode(probs, CHARSET.subset(ids.tolist()))[0]


STITCH_CASES = [
    # (left window, right window, right's offset in steps, expected text)
    ("a-b-c-d-e-", "c-d-e-f-g-", 4, "abcdefg"),  # windows agree step for step
    ("a-b-c-d-e-", "-c-d-e-f-g", 4, "abcdefg"),  # right places every char one step later
    ("a--b--c--d--e--", "c----d-e--f", 6, "abcdef"),  # positions drift by up to two steps
    ("a-b-c-d-e-", "c-t-e-f-g-", 4, "abcdefg"),  # a disagreement: splice after a matched char
    ("a-b-------", "-----c-d--", 4, "abcd"),  # nothing in common: cut on the shared blank
    ("k-k-k-k-k-", "-k-k-k-k-k", 4, "kkkkkkk"),  # one repeated char: counts survive
    ("a-b-", "c-d-", 4, "abcd"),  # no overlap at all
]


@pytest.mark.parametrize("left,right,shift,expected", STITCH_CASES)
def test_stitch_table(left: str, right: str, shift: int, expected: str) -> None:
    joined, placed = stitch(table(left), table(right), shift)
    assert read(joined) == expected
    assert abs(placed - shift) <= 2


def test_join_windows_tracks_where_each_window_landed() -> None:
    # the middle window reads everything one step late; the last one is aligned with the first
    windows = ["a-b-c-d-e-", "-c-d-e-f-g", "e-f-g-h-i-"]
    joined = join_windows([table(w) for w in windows], [0, 4, 8])
    assert read(joined) == "abcdefghi"


def test_empty_inputs() -> None:
    rec, engine = make()
    assert rec.recognize([]) == []
    assert engine.calls == []
    out = rec.recognize([np.zeros((0, 10, 3), np.uint8), draw_line("ab")])
    assert (out[0].text, out[0].score) == ("", 0.0)
    assert out[1].text == "ab"


def test_gray_and_bgra_crops_are_accepted() -> None:
    rec, _ = make()
    bgr = draw_line("cab")
    gray = bgr[:, :, 0].copy()
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])
    assert [r.text for r in rec.recognize([gray, bgra])] == ["cab", "cab"]


def test_model_with_another_time_step_width_is_a_model_error() -> None:
    class HalfStride(FakeEngine):
        def run(self, batch: Tensor) -> Tensor:
            return np.repeat(super().run(batch), 2, axis=1)  # one step per 4 px

    rec = TextRecognizer(HalfStride(), CHARSET, CUT)
    with pytest.raises(ModelError, match="expected"):
        rec.recognize([draw_line("ab")])


def test_charset_that_does_not_fit_the_model_is_a_model_error() -> None:
    engine = FakeEngine(num_classes=len(CHARSET) + 3)
    rec = TextRecognizer(engine, CHARSET, CUT)
    with pytest.raises(ModelError, match="classes"):
        rec.recognize([draw_line("ab")])


@pytest.mark.parametrize(
    "kwargs",
    [{"buckets": ()}, {"buckets": (160, 80)}, {"buckets": (84,)}, {"overlap": 0},
     {"overlap": 100}, {"buckets": (80, 160), "overlap": 96}],
)  # fmt: skip
def test_invalid_shapes_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RecShape(**kwargs)  # type: ignore[arg-type]


def test_warmup_runs_every_bucket_once() -> None:
    rec, engine = make()
    rec.warmup()
    assert [s[3] for s in engine.calls] == list(rec.shape.buckets)


class TopKFakeEngine(FakeEngine):
    """Selects the top k itself, as the torch engine does on a GPU; counts the calls."""

    top_k_on_device = True

    def __init__(self) -> None:
        super().__init__()
        self.topk_calls = 0

    def run_topk(self, batch: Tensor, k: int) -> TopKArrays:
        self.topk_calls += 1
        probs = self.run(batch)
        ids = np.argsort(-probs, axis=2, kind="stable")[:, :, :k]
        return np.take_along_axis(probs, ids, axis=2), ids.astype(np.int32), probs.shape[2]


def test_an_engine_with_its_own_top_k_reads_the_same_text() -> None:
    rng = np.random.default_rng(3)
    crops = [draw_line(random_text(rng, int(n))) for n in rng.integers(1, 40, 12)]
    plain = TextRecognizer(FakeEngine(), CHARSET, CUT, max_batch=4).recognize(crops)
    engine = TopKFakeEngine()
    fused = TextRecognizer(engine, CHARSET, CUT, max_batch=4).recognize(crops)
    assert engine.topk_calls > 0
    assert [r.text for r in fused] == [r.text for r in plain]
    np.testing.assert_allclose([r.score for r in fused], [r.score for r in plain], rtol=1e-5)


class LatePeak(EngineBase):
    """Like a real SVTR model on some words: "ab" inside the content, then the last
    character's peak ``late`` steps past the content's columns, then PAD_CLASS further out."""

    name = "late-peak"

    def __init__(self, late: int) -> None:
        self.late = late

    def run(self, batch: Tensor) -> Tensor:
        n, _, _, w = batch.shape
        steps = w // 8
        out = np.zeros((n, steps, len(CHARSET)), np.float32)
        for i in range(n):
            content = int(np.count_nonzero(np.any(batch[i] != 0.0, axis=(0, 1)))) // 8
            ids = np.zeros(steps, int)
            ids[content + self.late + 1 :] = PAD_CLASS
            ids[[0, 2, content - 1 + self.late]] = [SYMBOLS.index(c) + 1 for c in "abc"]
            out[i, np.arange(steps), ids] = 1.0
        return out


@pytest.mark.parametrize("late", [1, 2])
def test_a_last_peak_just_past_the_content_is_kept(late: int) -> None:
    line = draw_line("abc")  # 144 px: 18 content steps in a 192-px bucket (24 steps)
    cut = TextRecognizer(LatePeak(late), CHARSET, CUT).recognize([line])[0].text
    kept = TextRecognizer(LatePeak(late), CHARSET, RecShape()).recognize([line])[0].text
    assert (cut, kept) == ("ab", "abc")  # and the PAD_CLASS steps further out stay unread


def test_crops_taller_than_wide_are_also_read_turned() -> None:
    wide = draw_line("cab")
    standing = np.ascontiguousarray(np.rot90(wide))
    shape = RecShape()
    assert [v for v, _ in views(standing, shape)] == [0, 1, 2]
    assert [v for v, _ in views(wide, shape)] == [0]
    turned = dict(views(standing, shape))
    assert np.array_equal(turned[1], np.rot90(standing, -1))  # 90 degrees clockwise
    rows = preprocess([wide, standing], shape)
    assert sorted({(r.crop, r.view) for r in rows}) == [(0, 0), (1, 0), (1, 1), (1, 2)]


@pytest.mark.parametrize(
    ("upright", "turned", "expected"),
    [
        (("1", 0.6), ("is", 0.8), "1"),  # a turned reading only a little surer: keep upright
        (("l1", 0.3), ("SALE", 0.9), "SALE"),  # much surer: the word was standing
        (("", 0.0), ("OPEN", 0.4), "OPEN"),  # nothing upright: any turned reading
        (("9", 0.7), ("", 0.0), "9"),
    ],
)
def test_a_turned_reading_must_be_clearly_surer(
    upright: tuple[str, float], turned: tuple[str, float], expected: str
) -> None:
    readings = {0: Recognition(*upright), 1: Recognition(*turned), 2: Recognition("x", 0.1)}
    assert choose(readings, turn_margin=0.3).text == expected


def test_space_weight_lifts_an_under_read_space_and_keeps_each_step_a_distribution() -> None:
    charset = Charset(["a", "b"], use_space=True)  # classes: blank, a, b, space
    assert charset.space_id == 3
    # "a", then a step whose space (0.2) loses to the blank (0.8), then "b"
    table = np.array(
        [[0.0, 1.0, 0.0, 0.0], [0.8, 0.0, 0.0, 0.2], [0.0, 0.0, 1.0, 0.0]], dtype=np.float32
    )
    ids = np.arange(4)
    assert greedy_decode(table, charset)[0] == "ab"
    weighed = weigh_space(table, ids, charset, 12.0)
    assert greedy_decode(weighed, charset)[0] == "a b"
    np.testing.assert_allclose(weighed.sum(axis=1), 1.0, rtol=1e-6)
    assert weigh_space(table, ids, charset, 1.0) is table  # 1.0: the model as it is
    # a table that never mentions the space class, or a charset without one, is left alone
    part = table[:, :3]
    assert weigh_space(part, ids[:3], charset, 12.0) is part
    no_space = Charset(["a", "b", "c"], use_space=False)
    assert weigh_space(table, ids, no_space, 12.0) is table


def test_space_weight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="space_weight"):
        RecShape(space_weight=0.0)
