"""The floor for a lone request over HTTP: uvicorn (the server's HTTP layer) and a bare ASGI
app that tokenizes and runs the model in-line on the in-process ceiling's fastest single-request
configuration, and answers the top label. No framework, batching, metrics or validation: what
any Python ASGI server adds to the in-process latency on this machine, before our own costs.

    FLOOR_MODEL_DIR=DIR FLOOR_THREADS=N FLOOR_SPIN=0|1 FLOOR_KEEP_SPINNING=0|1 \
        python -m uvicorn --app-dir benchmarks floor_server:app --port PORT
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from service.backend.plan import plan_for
from service.backend.session import OnnxBackend
from service.settings import Settings

_MODEL_DIR = Path(os.environ["FLOOR_MODEL_DIR"])
_PLAN = plan_for(Settings(model_dir=_MODEL_DIR), single_process=True)
_BACKEND = OnnxBackend(
    _MODEL_DIR,
    replace(
        _PLAN,
        intra_op_threads=int(os.environ.get("FLOOR_THREADS", "1")),
        spin_wait=os.environ.get("FLOOR_SPIN") == "1",
    ),
    spin_between_runs=os.environ.get("FLOOR_KEEP_SPINNING") == "1",
)
_JSON = [(b"content-type", b"application/json")]


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
        ids = np.asarray(_BACKEND.encode([orjson.loads(body)["inputs"]]), dtype=np.int64)
        probs = _BACKEND.run(ids, np.ones_like(ids))[0]
        best = int(probs.argmax())
        answer = orjson.dumps([{"label": _BACKEND.labels[best], "score": float(probs[best])}])
    headers = [*_JSON, (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
