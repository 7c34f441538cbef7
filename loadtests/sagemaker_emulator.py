"""A local stand-in for the SageMaker runtime: `POST /endpoints/{name}/invocations`, forwarded to
a server speaking the container contract.

It does what matters to a load test of an endpoint: checks the SigV4 signature boto3 computed
(recomputed with the same secret when given one), refuses bodies over 6 MiB, returns the
container's body on success and maps a container 4xx/5xx to a 424 ModelError, as SageMaker does.
It serves one or several named production variants, each forwarding to its own server (or the
same one): a request goes to the variant its `X-Amzn-SageMaker-Target-Variant` header names
(an unknown one is a 400 ValidationError), else to one drawn by weight, and the answer names
it in `x-Amzn-Invoked-Production-Variant` (on a ModelError too, so that a load test can
attribute failures: a stand-in's choice). Standard library and botocore only; one thread per
connection.

Multi-model (`--models-dir DIR`, the local mirror of the S3 prefix, holding `NAME.tar.gz`): a
request's `X-Amzn-SageMaker-Target-Model` (boto3's TargetModel) is the tarball's path under
DIR. As SageMaker does (AWS docs: "Custom containers contract for multi-model endpoints",
"Invoke a multi-model endpoint"), the first request for a model extracts it and loads it with
`POST /models {"model_name", "url"}`, then every request goes to `POST /models/NAME/invoke`
with the target header; a 507 from the load unloads the least recently used model
(`DELETE /models/NAME`) and tries again; a model the container no longer has (404) is loaded
again once. A TargetModel with no tarball is a 400 ValidationError; a load the container
refuses is a 424 ModelError carrying its answer (the stand-in's wording, as above).
"""

from __future__ import annotations

import hmac
import json
import random
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from loadtests.emulated_models import LoadRefused, ModelCache, ModelMissing

MAX_PAYLOAD = 6 * 1024 * 1024
_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class EmulatedVariant:
    name: str
    upstream: str  # base URL of its container
    weight: float = 1.0


@dataclass(frozen=True)
class EmulatorConfig:
    upstream: str  # base URL of the container, e.g. http://127.0.0.1:8080
    endpoint_name: str
    access_key: str | None = None
    secret_key: str | None = None  # when set, signatures are recomputed and must match
    variants: tuple[EmulatedVariant, ...] = ()  # default: one, AllTraffic, on `upstream`
    models_dir: Path | None = None  # multi-model: the local mirror of the models' S3 prefix

    @property
    def routes(self) -> tuple[EmulatedVariant, ...]:
        return self.variants or (EmulatedVariant("AllTraffic", self.upstream),)


def parse_variant(text: str) -> EmulatedVariant:
    """`NAME=URL` or `NAME=URL@WEIGHT`, as `--variant` takes it."""
    name, sep, rest = text.partition("=")
    url, _, weight = rest.partition("@")
    if not sep or not name or not url.startswith("http"):
        raise ValueError(f"--variant {text!r}: expected NAME=URL[@WEIGHT]")
    return EmulatedVariant(name, url.rstrip("/"), float(weight or 1))


def signature_problem(
    config: EmulatorConfig, method: str, url: str, headers: dict[str, str], body: bytes
) -> str | None:
    """None when the request carries a valid SigV4 signature for service `sagemaker`."""
    match = _AUTH.match(headers.get("authorization", ""))
    if not match:
        return "missing or malformed SigV4 Authorization header"
    if match["service"] != "sagemaker":
        return f"signed for service {match['service']!r}, expected 'sagemaker'"
    if config.access_key and match["key"] != config.access_key:
        return "unknown access key"
    if not config.secret_key:
        return None
    signed = match["headers"].split(";")
    request = AWSRequest(
        method=method, url=url, data=body, headers={h: headers[h] for h in signed if h in headers}
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(match["key"], config.secret_key), "sagemaker", match["region"])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return None if hmac.compare_digest(expected, match["signature"]) else "signature does not match"


class _Handler(BaseHTTPRequestHandler):
    server: _EmulatorServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK: ~40 ms added to every call on loopback.
    disable_nagle_algorithm = True
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK: ~40 ms added to every call on loopback (measured 47.9 -> 1.5 ms p50).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: load tests make many requests
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self,
        status: int,
        kind: str,
        message: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps({"message": message, **(extra or {})}).encode()
        self._reply(
            status,
            body,
            {"Content-Type": "application/json", "x-amzn-ErrorType": kind, **(headers or {})},
        )

    def do_POST(self) -> None:
        config = self.server.config
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(self.path)
        if not match or match[1] != config.endpoint_name:
            return self._error(400, "ValidationError", f"Endpoint {self.path} not found.")
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = f"http://{self.headers.get('Host', '')}{self.path}"
        problem = signature_problem(config, "POST", url, headers, body)
        if problem:
            return self._error(403, "InvalidSignatureException", problem)
        if len(body) > MAX_PAYLOAD:
            return self._error(413, "ValidationError", "Request payload exceeds the 6 MiB limit.")
        target = headers.get("x-amzn-sagemaker-target-variant")
        variant = self.server.pick(target)
        if variant is None:
            return self._error(
                400, "ValidationError", f"Endpoint {config.endpoint_name} has no variant {target}."
            )
        invoked = {"x-Amzn-Invoked-Production-Variant": variant.name}
        forwarded = {
            "Content-Type": headers.get("content-type", "application/json"),
            "Accept": headers.get("accept", "*/*"),
        }
        path = "/invocations"
        target_model = headers.get("x-amzn-sagemaker-target-model")
        cache = self.server.models.get(variant.upstream)
        if target_model is not None:
            if cache is None:
                return self._error(
                    400, "ValidationError", f"Endpoint {config.endpoint_name} is not multi-model."
                )
            try:
                name = cache.ensure_loaded(target_model)
            except ModelMissing as error:
                return self._error(400, "ValidationError", str(error))
            except LoadRefused as error:
                return self._error(
                    424, "ModelError", str(error),
                    {"OriginalStatusCode": error.status, "OriginalMessage": error.body}, invoked,
                )  # fmt: skip
            path = f"/models/{name}/invoke"
            forwarded["X-Amzn-SageMaker-Target-Model"] = target_model
        try:
            answer = self._forward(variant.upstream + path, body, forwarded)
            if answer is None and cache is not None and target_model is not None:
                cache.forget(target_model)  # the container no longer has it: load it again, once
                cache.ensure_loaded(target_model)
                answer = self._forward(variant.upstream + path, body, forwarded)
            if answer is None:
                message = f"model {target_model} is not loaded in the container after a reload"
                return self._error(424, "ModelError", message, None, invoked)
            payload, content_type = answer
        except (ModelMissing, LoadRefused) as error:
            return self._error(424, "ModelError", str(error), None, invoked)
        except urllib.error.HTTPError as error:
            original = error.read().decode("utf-8", "replace")
            message = (
                f'Received client error ({error.code}) from primary with message "{original}".'
            )
            return self._error(
                424,
                "ModelError",
                message,
                {"OriginalStatusCode": error.code, "OriginalMessage": original},
                invoked,
            )
        except OSError as error:
            return self._error(
                424, "ModelError", f"Container did not answer: {error}", None, invoked
            )
        self._reply(200, payload, {"Content-Type": content_type, **invoked})

    def _forward(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, str] | None:
        """The container's body and content type; None for a multi-model 404 (not loaded)."""
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.read(), answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            if error.code == 404 and "/models/" in url:
                return None
            raise


class _EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: EmulatorConfig) -> None:
        super().__init__(address, _Handler)
        self.config = config
        self._random = random.Random()
        self._lock = threading.Lock()
        # One cache per container: each loads the models it is asked for, as an instance does.
        self.models: dict[str, ModelCache] = {}
        if config.models_dir is not None:
            for route in config.routes:
                self.models.setdefault(
                    route.upstream, ModelCache(config.models_dir, route.upstream)
                )

    def pick(self, target: str | None) -> EmulatedVariant | None:
        """The named variant (None if there is none), else one drawn by weight."""
        routes = self.config.routes
        if target:
            return next((v for v in routes if v.name == target), None)
        with self._lock:
            return self._random.choices(routes, weights=[v.weight for v in routes])[0]


@contextmanager
def running_emulator(config: EmulatorConfig, port: int = 0) -> Iterator[str]:
    """Serve on 127.0.0.1 in a background thread; yield the endpoint URL for boto3."""
    server = _EmulatorServer(("127.0.0.1", port), config)
    thread = threading.Thread(target=server.serve_forever, name="sagemaker-emulator", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve_emulator(config: EmulatorConfig, port: int) -> None:
    """Blocking; for `python -m loadtests emulate-sagemaker`."""
    with _EmulatorServer(("127.0.0.1", port), config) as server:
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m loadtests emulate-sagemaker",
        description="Serve POST /endpoints/NAME/invocations on 127.0.0.1, forwarding to a server.",
    )
    parser.add_argument(
        "--upstream", help="Base URL of the server, e.g. http://127.0.0.1:8080 (one variant)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=URL[@WEIGHT]: a production variant and its server (repeatable)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="Multi-model: folder of NAME.tar.gz (the models' S3 prefix); TargetModel loads them",
    )
    parser.add_argument("--endpoint-name", default="local-endpoint")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--access-key", default=None, help="Accept only this access key id")
    parser.add_argument(
        "--secret-key", default=None, help="Recompute and check signatures with this secret"
    )
    args = parser.parse_args(argv)
    try:
        variants = tuple(parse_variant(text) for text in args.variant)
    except ValueError as error:
        parser.error(str(error))
    if not args.upstream and not variants:
        parser.error("give --upstream or at least one --variant")
    config = EmulatorConfig(
        (args.upstream or variants[0].upstream).rstrip("/"),
        args.endpoint_name,
        args.access_key,
        args.secret_key,
        variants,
        args.models_dir,
    )
    print(
        f"SageMaker runtime stand-in on http://127.0.0.1:{args.port} (endpoint {args.endpoint_name})",
        flush=True,
    )
    with suppress(KeyboardInterrupt):
        serve_emulator(config, args.port)
    return 0
