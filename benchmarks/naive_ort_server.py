"""Naive ONNX Runtime serving, for the retry storm: uvicorn workers (one per core, as ours) and a
bare ASGI app that tokenizes each request's texts, pads them into one batch and runs a plain
ONNX Runtime session (its defaults, one thread per worker) in-line. No queue, no shedding, no
batching across requests: under a storm every request is served, however late.

    NAIVE_MODEL_DIR=DIR python -m uvicorn --app-dir benchmarks naive_ort_server:app \\
        --workers 2 --port PORT
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
from tokenizers import Tokenizer

from service.backend.artifact import load_manifest

_DIR = Path(os.environ["NAIVE_MODEL_DIR"])
_MANIFEST = load_manifest(_DIR, verify_checksums=False)
_OPTIONS = ort.SessionOptions()
_OPTIONS.intra_op_num_threads = 1
_SESSION = ort.InferenceSession(
    str(_DIR / _MANIFEST.variant_for("cpu").file), _OPTIONS, providers=["CPUExecutionProvider"]
)
_TOKENIZER = Tokenizer.from_file(str(_DIR / _MANIFEST.tokenizer))
_TOKENIZER.enable_truncation(_MANIFEST.max_length)
_TOKENIZER.enable_padding(pad_id=_MANIFEST.pad_token_id or 0)
_NAMES = [i.name for i in _SESSION.get_inputs()]
_JSON = [(b"content-type", b"application/json")]


def _classify(texts: list[str]) -> list[dict[str, Any]]:
    encoded = _TOKENIZER.encode_batch(texts)
    ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
    feeds = {
        "input_ids": ids,
        "attention_mask": np.asarray([e.attention_mask for e in encoded], dtype=np.int64),
        "token_type_ids": np.zeros_like(ids),
    }
    logits = _SESSION.run(None, {name: feeds[name] for name in _NAMES})[0]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    labels = _MANIFEST.labels
    return [{"label": labels[int(b)], "score": float(probs[i, b])} for i, b in enumerate(best)]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b""
    if scope["path"] == "/invocations":
        inputs = orjson.loads(body)["inputs"]
        answer = orjson.dumps(_classify(inputs if isinstance(inputs, list) else [inputs]))
    headers = [*_JSON, (b"content-length", str(len(answer)).encode())]
    headers += [(k, v) for k, v in scope["headers"] if k == b"x-request-id"]  # the storm's
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
