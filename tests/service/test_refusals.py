"""Refused requests through a real server process: every client reads the answer.

A body over the limit is read (up to a bound) before the 413 goes out, so clients still
sending see the 413, not a connection reset; requests shed under load are refused before
their body is parsed or tokenized."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
from service_helpers import serve_process

from loadtests.local_server import ServerProcess, free_port
from service.api.app import create_app
from service.core.predictor import Model
from service.settings import Settings

pytestmark = pytest.mark.slow

SEVEN_MB = json.dumps({"inputs": ["a headline " * 1000] * 640}).encode()


@pytest.fixture(scope="module")
def server(
    tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with serve_process(tiny_artifact, tmp_path_factory.mktemp("logs"), SERVE_WORKERS="1") as s:
        s.wait_for_ping()
        yield s


def test_a_7_mb_body_is_a_413_for_urllib_requests_and_curl(
    server: ServerProcess, tmp_path: Path
) -> None:
    assert len(SEVEN_MB) > 7 * 1000 * 1000
    url = f"{server.url}/invocations"
    request = urllib.request.Request(
        url, data=SEVEN_MB, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["type"] == "payload_too_large"

    reply = requests.post(
        url, data=SEVEN_MB, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert reply.status_code == 413 and reply.json()["type"] == "payload_too_large"

    body = tmp_path / "body.json"
    body.write_bytes(SEVEN_MB)
    curl = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
         "-H", "Expect:", "--data-binary", f"@{body}", url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert curl.returncode == 0, curl.stderr
    assert curl.stdout.rsplit("\n", 1)[1] == "413" and "payload_too_large" in curl.stdout

    # The connection survived for the next request (the body was drained, not left unread).
    with requests.Session() as session:
        assert session.post(url, data=SEVEN_MB, timeout=30).status_code == 413
        assert session.post(url, json={"inputs": "still here"}, timeout=30).status_code == 200


def test_shed_requests_are_refused_before_tokenizing(tiny_artifact: Path, tmp_path: Path) -> None:
    """With a queue that holds one text, a 64-text request is refused by the size check that
    runs before tokenization: the tokenize histogram does not move."""
    with serve_process(tiny_artifact, tmp_path, SERVE_WORKERS="1", SERVE_MAX_QUEUE_TEXTS="1") as s:
        s.wait_for_ping()
        url = f"{s.url}/invocations"
        before = requests.get(f"{s.url}/metrics", timeout=10).text
        shed = requests.post(url, json={"inputs": ["a headline"] * 64}, timeout=30)
        after = requests.get(f"{s.url}/metrics", timeout=10).text
    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert shed.json()["type"] == "overloaded"
    count = [line for line in after.splitlines() if line.startswith("serve_tokenize_seconds_count")]
    assert count == [
        line for line in before.splitlines() if line.startswith("serve_tokenize_seconds_count")
    ]
    assert 'serve_rejects_total{reason="queue_full"} 1.0' in after


def test_a_request_shed_before_its_body_is_answered_at_once_and_the_connection_lives(
    tiny_artifact: Path,
) -> None:
    """While the model loads, /invocations is refused before its body is read: the 503 comes
    back before the client has sent a byte of the body, and the connection still serves the
    next request once the body has gone through (uvicorn drops it)."""
    release = threading.Event()

    def never_ready() -> Model:
        release.wait(30)
        raise RuntimeError("released")

    port = free_port()
    app = create_app(Settings(model_dir=tiny_artifact), load_model=never_ready)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        body = json.dumps({"inputs": ["a headline"] * 5000}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            )
            answer = _read_response(conn)  # before any of the body was sent
            assert answer.startswith(b"HTTP/1.1 503") and b"retry-after" in answer.lower()
            conn.sendall(body)
            conn.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(conn).startswith(b"HTTP/1.1 503")  # still loading, but read
    finally:
        release.set()
        server.should_exit = True
        thread.join(10)


def _read_response(conn: socket.socket) -> bytes:
    """One HTTP response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(next(
        line.split(b":", 1)[1] for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ))  # fmt: skip
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length]
