"""The Open Inference Protocol v2 over REST (KServe's v2, Triton's HTTP API, MLServer).

Inputs: `text` (BYTES, shape [N]) and, for a pair model, `text_pair` (BYTES, [N]). Outputs:
`label` (BYTES, [N], the top label), `score` (FP32, [N], its score) and `scores` (FP32,
[N, labels], every label's score in label order); a request may name the outputs it wants.

Tensors come as JSON `data` or in Triton's binary tensor extension, which `tritonclient` uses
by default: the JSON header is the first `Inference-Header-Content-Length` bytes of the body,
binary inputs follow in order (`parameters.binary_data_size`), a BYTES element being a 4-byte
little-endian length and its bytes. Outputs are sent binary when the request asks
(`parameters.binary_data` per output, or `binary_data_output` for all).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
from fastapi.responses import Response

from service.api.call import Call
from service.api.errors import BadRequest
from service.backend.artifact import Manifest
from service.backend.segmenter import Item, Pair

HEADER_LENGTH = "inference-header-content-length"
OUTPUTS = ("label", "score", "scores")


def server_metadata() -> bytes:
    return orjson.dumps(
        {"name": "headline-serve", "version": "2", "extensions": ["binary_tensor_data"]}
    )


def model_metadata(manifest: Manifest) -> bytes:
    inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    if manifest.pairs:
        inputs.append({"name": "text_pair", "datatype": "BYTES", "shape": [-1]})
    return orjson.dumps(
        {
            "name": manifest.model_name,
            "versions": [manifest.model_version],
            "platform": "onnxruntime_onnx",
            "inputs": inputs,
            "outputs": [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "score", "datatype": "FP32", "shape": [-1]},
                {"name": "scores", "datatype": "FP32", "shape": [-1, len(manifest.labels)]},
            ],
            "parameters": {"labels": manifest.labels},
        }
    )


def _bytes_elements(raw: bytes, count: int, name: str) -> list[str]:
    """Triton's serialized BYTES tensor: per element, a uint32 LE length and the bytes."""
    texts, offset = [], 0
    for _ in range(count):
        if offset + 4 > len(raw):
            raise BadRequest(f"input {name}: binary data ends early")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        try:
            texts.append(raw[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"input {name}: not UTF-8") from None
        offset += size
    return texts


def _request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the binary part that follows it (empty without the extension)."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadRequest(f"{HEADER_LENGTH} {header_length!r} does not fit the body")
        head, tail = body[: int(header_length)], body[int(header_length) :]
    else:
        head, tail = body, b""
    try:
        request = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"inference request is not valid JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise BadRequest('an inference request is a JSON object with an "inputs" list')
    return request, tail


def _inputs(request: dict[str, Any], binary: bytes) -> dict[str, list[str]]:
    tensors: dict[str, list[str]] = {}
    offset = 0
    for tensor in request["inputs"]:
        if not isinstance(tensor, dict):
            raise BadRequest("each input is a JSON object")
        name = tensor.get("name")
        if name not in ("text", "text_pair"):
            raise BadRequest(f"input {name!r}: this model takes text (and text_pair), BYTES")
        if tensor.get("datatype") != "BYTES":
            raise BadRequest(
                f"input {name}: datatype must be BYTES, got {tensor.get('datatype')!r}"
            )
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
            raise BadRequest(f"input {name}: shape must be a list of integers")
        count = int(np.prod(shape)) if shape else 1
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            texts = _bytes_elements(binary[offset : offset + int(size)], count, name)
            offset += int(size)
        else:
            data = tensor.get("data")
            flat = np.asarray(data, dtype=object).reshape(-1).tolist() if data is not None else []
            if len(flat) != count or not all(isinstance(t, str) for t in flat):
                raise BadRequest(f"input {name}: data must be {count} strings (shape {shape})")
            texts = flat
        tensors[name] = texts
    if "text" not in tensors or not tensors["text"]:
        raise BadRequest('the request needs a non-empty "text" input (BYTES)')
    if "text_pair" in tensors and len(tensors["text_pair"]) != len(tensors["text"]):
        raise BadRequest("text and text_pair must hold as many elements")
    return tensors


def _wanted(request: dict[str, Any]) -> list[tuple[str, bool]]:
    """The outputs to send, each with whether it goes binary."""
    every_binary = bool((request.get("parameters") or {}).get("binary_data_output", False))
    asked = request.get("outputs")
    if not asked:
        return [(name, every_binary) for name in OUTPUTS]
    wanted = []
    for output in asked:
        name = output.get("name") if isinstance(output, dict) else None
        if name not in OUTPUTS:
            raise BadRequest(f"output {name!r}: this model gives {', '.join(OUTPUTS)}")
        binary = (output.get("parameters") or {}).get("binary_data", every_binary)
        wanted.append((name, bool(binary)))
    return wanted


def _serialize_bytes(texts: list[str]) -> bytes:
    parts = []
    for text in texts:
        raw = text.encode("utf-8")
        parts.append(struct.pack("<I", len(raw)) + raw)
    return b"".join(parts)


async def answer(call: Call, body: bytes, header_length: str | None) -> bytes | Response:
    request, binary = _request(body, header_length)
    tensors = _inputs(request, binary)
    wanted = _wanted(request)
    texts, pairs = tensors["text"], tensors.get("text_pair")
    items: list[Item] = (
        list(texts) if pairs is None else [Pair(a, b) for a, b in zip(texts, pairs, strict=True)]
    )
    result = await call.predict(items, None)
    labels = list(result.labels)
    best = result.scores.argmax(axis=1)
    values: dict[str, tuple[str, list[int], Any]] = {
        "label": ("BYTES", [len(items)], [labels[i] for i in best.tolist()]),
        "score": ("FP32", [len(items)], result.scores[np.arange(len(items)), best]),
        "scores": ("FP32", [len(items), len(labels)], result.scores),
    }
    outputs, tail = [], []
    for name, as_binary in wanted:
        datatype, shape, value = values[name]
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if as_binary:
            raw = (
                _serialize_bytes(value)
                if datatype == "BYTES"
                else np.ascontiguousarray(value, dtype="<f4").tobytes()
            )
            output["parameters"] = {"binary_data_size": len(raw)}
            tail.append(raw)
        else:
            output["data"] = (
                value if datatype == "BYTES" else np.asarray(value).reshape(-1).tolist()
            )
        outputs.append(output)
    reply: dict[str, Any] = {
        "model_name": call.manifest.model_name,
        "model_version": call.manifest.model_version,
        "outputs": outputs,
    }
    if "id" in request:
        reply["id"] = request["id"]
    head = orjson.dumps(reply)
    if not tail:
        return head
    return Response(
        head + b"".join(tail),
        200,
        {HEADER_LENGTH: str(len(head))},
        media_type="application/octet-stream",
    )
