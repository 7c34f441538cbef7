"""A local stand-in for API Gateway in front of the public API's Lambda handler.

For load tests and local runs of `deploy expose`'s API without AWS: `POST /{stage}/classify` and
`GET /{stage}/health` become REST API proxy events (payload format 1.0) for the real handler,
which calls the SageMaker runtime (or loadtests/sagemaker_emulator.py). Like a REST API with
`--auth api-key`, a missing or wrong `x-api-key` on /classify is 403 `{"message": "Forbidden"}`
before the handler runs. No throttling, no usage plan: those are API Gateway's own.
"""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from deploy.public_api.lambda_handler import Classifier

# API Gateway refuses bodies over 10 MB before any integration runs.
MAX_PAYLOAD = 10 * 1024 * 1024


@dataclass(frozen=True)
class GatewayConfig:
    classifier: Classifier
    api_key: str | None = None  # None: no key required (like --auth iam behind a trusted caller)
    stage: str = "prod"


class _Handler(BaseHTTPRequestHandler):
    server: _GatewayServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: with Nagle on, a keep-alive client's delayed ACK
    # held every answer ~40 ms on loopback (measured).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet under load
        pass

    def _reply(self, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _gateway_error(self, status: int, message: str) -> None:
        self._reply(status, json.dumps({"message": message}), {"Content-Type": "application/json"})

    def _serve(self, method: str) -> None:
        config = self.server.config
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD:
            return self._gateway_error(413, "Request Entity Too Large")
        body = self.rfile.read(length).decode("utf-8", "replace") if length else None
        prefix = f"/{config.stage}"
        path = self.path.split("?", 1)[0]
        resource = path[len(prefix) :] if path.startswith(prefix + "/") else ""
        if (method, resource) not in {("POST", "/classify"), ("GET", "/health")}:
            return self._gateway_error(403, "Missing Authentication Token")  # API Gateway's 404
        if config.api_key is not None and resource == "/classify":
            given = self.headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), config.api_key.encode()):
                return self._gateway_error(403, "Forbidden")
        event = {
            "resource": resource,
            "path": resource,
            "httpMethod": method,
            "headers": dict(self.headers.items()),
            "requestContext": {"requestId": str(uuid.uuid4()), "stage": config.stage},
            "body": body,
            "isBase64Encoded": False,
        }
        answer = config.classifier(event, None)
        self._reply(int(answer["statusCode"]), str(answer["body"]), dict(answer["headers"]))

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: GatewayConfig) -> None:
        super().__init__(address, _Handler)
        self.config = config


@contextmanager
def running_gateway(config: GatewayConfig, port: int = 0) -> Iterator[str]:
    """Serve on 127.0.0.1 in a background thread; yield the invoke URL (with the stage)."""
    server = _GatewayServer(("127.0.0.1", port), config)
    thread = threading.Thread(target=server.serve_forever, name="api-gateway-stand-in", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{config.stage}"
    finally:
        server.shutdown()
        server.server_close()
