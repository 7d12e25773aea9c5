"""A Paddle inference export on disk and what its metadata says.

One task directory holds a program (inference.pdmodel, legacy, or inference.json, PIR), its
weights (inference.pdiparams) and, as PaddleX writes them, an inference.yml stating the input
normalisation, sizes, cls angles and perhaps the rec dictionary. These are read here, without
Paddle, so that a malformed export fails before any slow conversion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from models.convert.errors import ConvertError, brief
from models.registry.catalogue import InputContract, Task

# How PP-OCR's rec/cls lines are normalised: BGR pixels, x / 255, mean = std = 0.5.
PLAIN_LINE = {"channel_order": "BGR", "scale": 1 / 255, "mean": (0.5,) * 3, "std": (0.5,) * 3}


@dataclass(frozen=True)
class PaddleExport:
    task: Task
    dir: Path
    program: Path  # inference.pdmodel or inference.json
    params: Path
    config: dict[str, Any] = field(default_factory=dict)  # inference.yml, {} when absent

    @property
    def paths(self) -> tuple[Path, Path]:
        return (self.program, self.params)


def find_export(root: Path, task: Task) -> PaddleExport | None:
    """`root/task/` as a Paddle inference export; None when that directory does not exist."""
    d = root / task
    if not d.exists():
        return None
    if not d.is_dir():
        raise ConvertError(f"{d} is not a directory")
    programs = sorted(
        p for p in d.iterdir() if p.suffix in (".pdmodel", ".json") and p.name != "config.json"
    )
    params = sorted(d.glob("*.pdiparams"))
    if len(programs) != 1 or len(params) != 1:
        found = ", ".join(p.name for p in sorted(d.iterdir())) or "nothing"
        raise ConvertError(
            f"{d} is not a Paddle inference export: it needs one inference.pdmodel (or "
            f"inference.json) and one inference.pdiparams; found {found}"
        )
    return PaddleExport(task, d, programs[0], params[0], read_inference_yml(d / "inference.yml"))


def read_inference_yml(path: Path) -> dict[str, Any]:
    """A PaddleX/PaddleOCR `inference.yml` as a dict; {} when there is none."""
    if not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConvertError(f"cannot read {path}: {brief(exc)}") from exc
    if not isinstance(doc, dict):
        raise ConvertError(f"{path} is not a YAML mapping")
    return doc


def _transform_ops(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """PreProcess.transform_ops as {op name: its arguments}."""
    ops = (config.get("PreProcess") or {}).get("transform_ops") or []
    out: dict[str, dict[str, Any]] = {}
    for op in ops:
        if isinstance(op, dict):
            for name, args in op.items():
                out[name] = args if isinstance(args, dict) else {}
    return out


def parse_scale(value: Any) -> float:
    """NormalizeImage's scale: a number or the string PaddleX writes, e.g. "1./255."."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    num, sep, den = text.partition("/")
    try:
        return float(num) / float(den) if sep else float(num)
    except (ValueError, ZeroDivisionError):
        raise ConvertError(f"cannot read NormalizeImage scale {value!r}") from None


def _triple(value: Any, what: str) -> tuple[float, float, float]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ConvertError(f"NormalizeImage {what} must be 3 numbers, got {value!r}")
    a, b, c = (float(v) for v in value)
    return (a, b, c)


def contract_from_yml(task: Task, config: dict[str, Any], base: InputContract) -> InputContract:
    """`base` with what the export's inference.yml states: normalisation, channel order, input
    height (rec, cls) and width (cls). Anything it does not state is kept from `base`."""
    ops = _transform_ops(config)
    update: dict[str, Any] = {}
    mode = ops.get("DecodeImage", {}).get("img_mode")
    if mode in ("BGR", "RGB"):
        update["channel_order"] = mode
    norm = ops.get("NormalizeImage")
    if norm is not None:
        if "scale" in norm:
            update["scale"] = parse_scale(norm["scale"])
        if "mean" in norm:
            update["mean"] = _triple(norm["mean"], "mean")
        if "std" in norm:
            update["std"] = _triple(norm["std"], "std")
    elif task in ("rec", "cls") and ({"RecResizeImg", "ClsResizeImg"} & ops.keys()):
        # PP-OCR's rec/cls resize ops normalise themselves: x / 255, mean = std = 0.5.
        update.update(PLAIN_LINE)
    for name in ("RecResizeImg", "ClsResizeImg"):
        shape = ops.get(name, {}).get("image_shape")
        if isinstance(shape, list | tuple) and len(shape) == 3:
            update["height"] = int(shape[1])
            if task == "cls":
                update["width"] = int(shape[2])
    size = ops.get("ResizeImage", {}).get("size")
    if task == "cls" and isinstance(size, list | tuple) and len(size) == 2:
        update["width"], update["height"] = int(size[0]), int(size[1])
    return base.model_copy(update=update)


def labels_from_yml(config: dict[str, Any], base: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """cls angles from PostProcess label_list (["0", "180"] or ["0_degree", "180_degree"])."""
    post = config.get("PostProcess") or {}
    labels = post.get("label_list") or (post.get("Topk") or {}).get("label_list")
    if not labels:
        return base
    try:
        return tuple(int(re.match(r"\s*(\d+)", str(v)).group(1)) for v in labels)  # type: ignore[union-attr]
    except AttributeError:
        raise ConvertError(f"cannot read cls angles from label_list {labels!r}") from None


@dataclass(frozen=True)
class Dictionary:
    symbols: tuple[str, ...]
    space: bool  # a trailing " " class (PP-OCR use_space_char)
    origin: str  # where it was found, for messages and the catalogue description

    def text(self) -> str:
        """Newline-separated symbols: the form of the ONNX metadata key ``character``."""
        return "\n".join(self.symbols)


def _symbols_of(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def find_dictionary(
    rec_dir: Path, config: dict[str, Any], explicit: Path | None, space: bool
) -> Dictionary:
    """The rec dictionary: `explicit` (--dict), else the one *.txt in rec/, else PostProcess
    character_dict in inference.yml. `space` (from the base set) is overridden by the yml's
    use_space_char."""
    post = config.get("PostProcess") or {}
    space = bool(post.get("use_space_char", space))
    if explicit is None:
        txts = sorted(rec_dir.glob("*.txt"))
        if len(txts) > 1:
            names = ", ".join(p.name for p in txts)
            raise ConvertError(f"{rec_dir} holds several dictionaries ({names}); pick one: --dict")
        explicit = txts[0] if txts else None
    if explicit is not None:
        try:
            symbols = _symbols_of(explicit.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConvertError(f"cannot read dictionary {explicit}: {brief(exc)}") from exc
        origin = str(explicit)
    else:
        listed = post.get("character_dict")
        if not isinstance(listed, list):
            raise ConvertError(
                f"no rec dictionary: give --dict FILE, put one *.txt in {rec_dir}, or an "
                "inference.yml with PostProcess.character_dict"
            )
        symbols, origin = [str(s) for s in listed], f"{rec_dir / 'inference.yml'}"
    if not symbols or any("\n" in s for s in symbols):
        raise ConvertError(f"dictionary {origin} is empty or has a symbol with a line break")
    return Dictionary(tuple(symbols), space, origin)
