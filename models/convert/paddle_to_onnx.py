"""Paddle export -> ONNX with paddle2onnx's Python API, and the repairs its output needs.

paddle2onnx 2.1 writes graphs that it or ONNX Runtime cannot handle: `_patch_pir_json` narrows
the *_interp ops' float64 `scale` before the export, `fix_concat_ranks` unsqueezes 0-D Concat
inputs after it. Each repair is counted, so the catalogue records what was patched. paddle,
paddle2onnx and onnx are imported lazily, only while converting.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.convert.errors import ConvertError, brief
from models.convert.paddle_export import PaddleExport
from models.registry.catalogue import Task

log = logging.getLogger(__name__)

OPSET = 14  # >= 13: Unsqueeze takes its axes as an input (see `fix_concat_ranks`)


def _import_converters() -> tuple[Any, Any, Any]:
    try:
        os.environ.setdefault("GLOG_minloglevel", "2")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # paddle warns at import about a missing ccache
            import onnx
            import paddle
            import paddle2onnx
    except ImportError as exc:
        raise ConvertError(f"import-paddle needs: pip install '.[paddle]' ({exc})") from exc
    return paddle, paddle2onnx, onnx


def legacy_to_pir(program: Path, params: Path, work: Path) -> tuple[Path, Path]:
    """A legacy .pdmodel program as a PIR .json program + params, as paddle2onnx.export does
    internally, so that the PIR text can be patched before the ONNX export."""
    paddle, p2o, _ = _import_converters()
    (work / "legacy.pdmodel").symlink_to(program.resolve())
    (work / "legacy.pdiparams").symlink_to(params.resolve())
    exe = paddle.static.Executor(paddle.CPUPlace())
    with paddle.static.scope_guard(paddle.static.Scope()):
        with paddle.pir_utils.OldIrGuard():
            legacy, _, _ = paddle.static.load_inference_model(str(work / "legacy"), exe)
        pir = paddle.pir.translate_to_pir(legacy.desc)
        p2o.load_parameter(pir)
        p2o.save_program(pir, str(work / "pir"))
    return work / "pir.json", work / "pir.pdiparams"


def _scale_to_f32(op: dict[str, Any]) -> bool:
    changed = False
    for attr in op.get("A") or []:
        value = attr.get("AT") or {}
        if attr.get("N") == "scale" and value.get("#") == "0.a_array":
            for item in value.get("D") or []:
                if item.get("#") == "0.a_f64":
                    item["#"], changed = "0.a_f32", True
    return changed


def _patch_pir_json(path: Path) -> int:
    """paddle2onnx 2.1 trap: Paddle's program translator widens the `scale` attribute of the
    *_interp ops (PP-OCRv4 det's FPN upsampling; FLOATS, i.e. float32, in the legacy program)
    to an array of float64 (`0.a_f64`), but paddle2onnx's PIR parser only accepts float32 there
    and aborts ("the 0th elementwise MUST be ir::FloatAttribute"). Narrowing back to float32
    loses nothing the legacy program had. Returns the number of ops patched."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    patched = 0

    def visit(node: Any) -> None:
        nonlocal patched
        if isinstance(node, dict):
            if str(node.get("#", "")).endswith("_interp") and _scale_to_f32(node):
                patched += 1
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(doc)
    if patched:
        path.write_text(json.dumps(doc), encoding="utf-8")
    return patched


def fix_concat_ranks(model: Any) -> int:
    """paddle2onnx 2.1 trap: Paddle builds reshape targets with `builtin.combine` of 1-element
    tensors, and some of them (a dimension sliced off a shape) come out of the converter as 0-D
    scalars. ONNX Concat needs inputs of one rank, so ONNX Runtime refuses the graph ("All inputs
    to Concat must have same rank" / "axis must be in [-rank, rank-1]"). A 0-D input is never
    valid for Concat; Unsqueeze it to shape [1], which is what Paddle meant. Repeats until shape
    inference finds no 0-D Concat input (a fix can make later ranks known). Returns the count."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    axes = "import_paddle.unsqueeze_axes0"
    fixed = 0
    for _ in range(16):
        inferred = shape_inference.infer_shapes(model, strict_mode=False)
        g = inferred.graph
        ranks = {
            v.name: len(v.type.tensor_type.shape.dim)
            for v in (*g.value_info, *g.input, *g.output)
            if v.type.tensor_type.HasField("shape")
        }
        ranks.update({t.name: len(t.dims) for t in model.graph.initializer})
        nodes: list[onnx.NodeProto] = []
        changed = 0
        for node in model.graph.node:
            if node.op_type == "Concat":
                for i, name in enumerate(node.input):
                    if ranks.get(name) == 0:
                        out = f"{name}.as_1d.{fixed + changed}"
                        nodes.append(helper.make_node("Unsqueeze", [name, axes], [out]))
                        node.input[i] = out
                        changed += 1
            nodes.append(node)
        if not changed:
            return fixed
        if fixed == 0:
            model.graph.initializer.append(
                numpy_helper.from_array(np.array([0], dtype=np.int64), axes)
            )
        fixed += changed
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return fixed


def _flush_stdout() -> None:
    sys.stdout.flush()
    with suppress(OSError, AttributeError):  # no C library to ask: nothing we can flush
        ctypes.CDLL(None).fflush(None)


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """paddle2onnx's C++ side prints progress on file descriptor 1; send it to 2 so that the
    command's stdout carries only its own output (the parity table)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        _flush_stdout()
        os.dup2(saved, 1)
        os.close(saved)


@dataclass(frozen=True)
class Converted:
    task: Task
    path: Path
    repairs: dict[str, int]  # what was patched, how often


def convert_export(
    export: PaddleExport, out: Path, metadata: dict[str, str] | None = None
) -> Converted:
    """paddle2onnx's Python API on one export (never its CLI: no optimiser, so nothing is
    pip-installed at run time), plus the repairs; writes `out` and returns what was repaired."""
    _, p2o, onnx = _import_converters()
    with tempfile.TemporaryDirectory(prefix="p2o-") as tmp:
        work = Path(tmp)
        try:
            if export.program.suffix == ".pdmodel":
                program, params = legacy_to_pir(export.program, export.params, work)
            else:
                program, params = work / "pir.json", export.params
                shutil.copyfile(export.program, program)
            interp = _patch_pir_json(program)
        except Exception as exc:
            raise ConvertError(
                f"cannot read the {export.task} export {export.dir}: {brief(exc)}"
            ) from exc
        try:
            # save_file=None returns the bytes and skips the optimise step entirely (the default
            # optimize_tool "polygraphy" would try to pip-install polygraphy). paddle2onnx
            # reports errors by logging and sys.exit(-1), hence SystemExit.
            with _stdout_to_stderr():
                blob = p2o.export(
                    str(program),
                    str(params),
                    save_file=None,
                    opset_version=OPSET,
                    auto_upgrade_opset=True,
                    enable_onnx_checker=True,
                    optimize_tool="None",
                )
        except SystemExit as exc:  # its reason is already logged
            raise ConvertError(f"paddle2onnx failed on the {export.task} export (above)") from exc
        except Exception as exc:
            raise ConvertError(
                f"paddle2onnx failed on the {export.task} export: {brief(exc)}"
            ) from exc
    if not isinstance(blob, bytes | bytearray) or not blob:
        raise ConvertError(f"paddle2onnx produced no model for the {export.task} export")
    model = onnx.load_model_from_string(bytes(blob))
    concat = fix_concat_ranks(model)
    for key, value in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ConvertError(f"the converted {export.task} model is invalid: {brief(exc)}") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out))
    repairs = {"interp_ops_scale_f64_to_f32": interp, "concat_0d_inputs_unsqueezed": concat}
    log.info("converted %s export %s -> %s, repairs %s", export.task, export.dir, out, repairs)
    return Converted(export.task, out, repairs)
