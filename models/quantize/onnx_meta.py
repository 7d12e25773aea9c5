"""Small ONNX helpers shared by the converters: metadata (the rec dictionary lives in the
`character` key) and the element types of a graph's inputs and outputs."""

from __future__ import annotations

from pathlib import Path

import onnx


def read_metadata(model: onnx.ModelProto | Path) -> dict[str, str]:
    m = onnx.load(str(model), load_external_data=False) if isinstance(model, Path) else model
    return {p.key: p.value for p in m.metadata_props}


def copy_metadata(src: onnx.ModelProto, dst: onnx.ModelProto) -> None:
    """Make `dst` carry exactly the metadata_props of `src` (converters may drop them)."""
    del dst.metadata_props[:]
    for p in src.metadata_props:
        dst.metadata_props.add(key=p.key, value=p.value)


def io_types(model: onnx.ModelProto) -> dict[str, int]:
    """name -> TensorProto element type of every graph input and output."""
    return {v.name: v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]}
