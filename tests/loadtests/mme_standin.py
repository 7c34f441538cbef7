"""A stand-in for a container speaking the multi-model contract (AWS docs: "Custom containers
contract for multi-model endpoints"), for the runtime stand-in's paths a real server takes
only under memory pressure or a restart (the real server is tested in test_model_mix too): load (200, 409, 507 past `capacity`, 4xx for a directory without a
manifest), list, unload, and `/models/NAME/invoke` answering one prediction per input text.
It records what it was sent so tests can check the runtime stand-in's loading and headers."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from service.backend.artifact import MANIFEST_NAME


@dataclass
class Record:
    capacity: int
    loaded: dict[str, str] = field(default_factory=dict)  # name -> url
    loads: list[str] = field(default_factory=list)
    unloads: list[str] = field(default_factory=list)
    targets: list[str | None] = field(default_factory=list)  # X-Amzn-SageMaker-Target-Model
    lock: threading.Lock = field(default_factory=threading.Lock)


def _texts(content_type: str, body: bytes) -> int:
    if content_type.startswith("text/csv"):
        return sum(1 for _ in csv.reader(io.StringIO(body.decode())))
    inputs = json.loads(body)["inputs"]
    return len(inputs) if isinstance(inputs, list) else 1


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        record, body = self.server.record, self._body()
        parts = self.path.strip("/").split("/")
        if parts == ["models"]:
            request = json.loads(body)
            name, url = request["model_name"], request["url"]
            with record.lock:
                if name in record.loaded:
                    return self._send(409, {"error": f"model {name} is already loaded"})
                if not (Path(url) / MANIFEST_NAME).is_file():
                    return self._send(400, {"error": f"{url}: no {MANIFEST_NAME}"})
                if len(record.loaded) >= record.capacity:
                    return self._send(507, {"error": "not enough memory"})
                record.loaded[name] = url
                record.loads.append(name)
            return self._send(200, {"status": f"model {name} loaded"})
        if len(parts) == 3 and parts[0] == "models" and parts[2] == "invoke":
            with record.lock:
                record.targets.append(self.headers.get("X-Amzn-SageMaker-Target-Model"))
                known = parts[1] in record.loaded
            if not known:
                return self._send(404, {"error": f"model {parts[1]} is not loaded"})
            count = _texts(self.headers.get("Content-Type", ""), body)
            return self._send(200, [{"label": "world", "score": 0.9}] * count)
        self._send(404, {"error": "no such route"})

    def do_DELETE(self) -> None:
        record, parts = self.server.record, self.path.strip("/").split("/")
        with record.lock:
            if len(parts) != 2 or record.loaded.pop(parts[1], None) is None:
                return self._send(404, {"error": "not loaded"})
            record.unloads.append(parts[1])
        self._send(200, {"status": "unloaded"})

    def do_GET(self) -> None:
        with self.server.record.lock:
            models = [{"modelName": n, "modelUrl": u} for n, u in self.server.record.loaded.items()]
        self._send(200, {"models": models})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, record: Record) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.record = record


@contextmanager
def multi_model_container(capacity: int = 100) -> Iterator[tuple[str, Record]]:
    record = Record(capacity)
    server = _Server(record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", record
    finally:
        server.shutdown()
        server.server_close()
