"""Embedding tables mapped from the ONNX file instead of copied into each session.

A worker runs two sessions of the same graph (service/backend/session.py), and every session
copies every initializer into its own memory: the default int8 artifact keeps its word
embeddings in fp32 (30522 x 384, 46 MB of a 59 MB file), so a worker held that table twice and
the two workers four times. A table only read by lookups (`Gather`, ONNX Runtime's
fused `EmbedLayerNormalization`) is handed to
ONNX Runtime instead as an array memory-mapped from the file (`SessionOptions.add_initializer`):
the sessions of a worker share it, the workers share its pages through the page cache, and only
the rows of tokens really seen are ever read from disk. Tables read by anything else stay in
the session: a matrix multiplication packs its weights into a copy of its own anyway.

The ONNX file is a protobuf; this reads just enough of it (the graph's nodes and initializers)
to find each table's name, type, shape and the offset of its raw bytes, so the serving image
needs no `onnx` package.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MIN_TABLE_BYTES = 1 << 20
"""Smaller tables are not worth a mapping."""

LOOKUPS: dict[str, frozenset[int]] = {
    "Gather": frozenset({0}),
    # ONNX Runtime's fused embedding (contrib op): word, position and segment tables.
    "EmbedLayerNormalization": frozenset({2, 3, 4}),
}
"""Operators that look rows up in a table, and which of their inputs are tables."""

# onnx.proto field numbers (ModelProto.graph, GraphProto.node/initializer, NodeProto.input/
# op_type, TensorProto.dims/data_type/name/raw_data) and TensorProto.DataType codes.
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER = 1, 5
_NODE_INPUT, _NODE_OP_TYPE = 1, 4
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_RAW = 1, 2, 8, 9
_DTYPES: dict[int, Any] = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    6: np.int32,
    7: np.int64,
    10: np.float16,
}
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    dtype: Any
    shape: tuple[int, ...]
    offset: int
    """Of its raw bytes in the file."""


def _varint(data: Any, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data: Any, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field of the message in data[start:end];
    for a varint, start is its value and end -1."""
    at = start
    while at < end:
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, at = _varint(data, at)
            yield number, wire, value, -1
        elif wire == _LENGTH:
            size, at = _varint(data, at)
            yield number, wire, at, at + size
            at += size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            yield number, wire, at, at + width
            at += width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} at byte {at}")


def _tensor(data: Any, start: int, end: int) -> Table | None:
    dims: list[int] = []
    dtype, name, raw = 0, "", -1
    for number, wire, s, e in _fields(data, start, end):
        if number == _TENSOR_DIMS and wire == _VARINT:
            dims.append(s)
        elif number == _TENSOR_DIMS and wire == _LENGTH:  # packed
            at = s
            while at < e:
                dim, at = _varint(data, at)
                dims.append(dim)
        elif number == _TENSOR_TYPE and wire == _VARINT:
            dtype = s
        elif number == _TENSOR_NAME and wire == _LENGTH:
            name = bytes(data[s:e]).decode()
        elif number == _TENSOR_RAW and wire == _LENGTH:
            raw = s
    if raw < 0 or dtype not in _DTYPES or not name:
        return None  # values in typed fields, or kept outside the file: left to the session
    return Table(name, _DTYPES[dtype], tuple(dims), raw)


def find_tables(model_file: Path, min_bytes: int = MIN_TABLE_BYTES) -> list[Table]:
    """The initializers of at least `min_bytes` that only lookups read (`LOOKUPS`: as a
    table, not as the indices); none for a file this cannot read, which the session then
    refuses with ONNX Runtime's own words."""
    try:
        return _find_tables(model_file, min_bytes)
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return []


def _find_tables(model_file: Path, min_bytes: int) -> list[Table]:
    with (
        model_file.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        candidates: list[Table] = []
        gathered: set[str] = set()
        other_uses: set[str] = set()
        for number, wire, start, end in _fields(data, 0, len(data)):
            if number != _MODEL_GRAPH or wire != _LENGTH:
                continue
            for field, kind, s, e in _fields(data, start, end):
                if kind != _LENGTH:
                    continue
                if field == _GRAPH_INITIALIZER and e - s >= min_bytes:
                    table = _tensor(data, s, e)
                    if table is not None:
                        candidates.append(table)
                elif field == _GRAPH_NODE:
                    op, inputs = "", []
                    for n, w, ns, ne in _fields(data, s, e):
                        if w == _LENGTH and n == _NODE_OP_TYPE:
                            op = bytes(data[ns:ne]).decode()
                        elif w == _LENGTH and n == _NODE_INPUT:
                            inputs.append(bytes(data[ns:ne]).decode())
                    for index, name in enumerate(inputs):
                        looked_up = index in LOOKUPS.get(op, frozenset())
                        (gathered if looked_up else other_uses).add(name)
    return [t for t in candidates if t.name in gathered and t.name not in other_uses]


def mapped_tables(model_file: Path, min_bytes: int = MIN_TABLE_BYTES) -> list[tuple[str, Any]]:
    """(name, OrtValue) for each embedding table of `model_file`, memory-mapped read-only; the
    caller adds them to every session's options (`add_initializer`) and keeps this list alive
    as long as the sessions."""
    import onnxruntime as ort

    values = []
    for table in find_tables(model_file, min_bytes):
        array = np.memmap(model_file, table.dtype, "r", table.offset, table.shape)
        values.append((table.name, ort.OrtValue.ortvalue_from_numpy(array)))
    return values
