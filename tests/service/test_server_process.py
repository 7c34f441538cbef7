"""A real `serve` process on a free loopback port: every error status through real HTTP,
readiness, and SIGTERM draining with requests in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import ServerProcess, serve_process

pytestmark = pytest.mark.slow


def assert_error(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "type"} and body["type"] == kind
    assert "Traceback" not in response.text


@pytest.fixture(scope="module")
def server(
    tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with serve_process(
        tiny_artifact,
        tmp_path_factory.mktemp("logs"),
        SERVE_MAX_PAYLOAD_MB="0.01",
        SERVE_MAX_TEXTS_PER_REQUEST="8",
    ) as process:
        process.wait_for_ping()
        yield process


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind"),
    [
        ({"content-type": "application/json"}, b'{"inputs": ', 400, "bad_request"),
        ({"content-type": "application/json"}, b'{"inputs": {"a": 1}}', 400, "bad_request"),
        ({"content-type": "text/plain"}, b"x" * 20_000, 413, "payload_too_large"),
        (
            {"content-type": "application/json"},
            json.dumps({"inputs": ["t"] * 9}).encode(),
            413,
            "payload_too_large",
        ),
        ({"content-type": "application/xml"}, b"<inputs/>", 415, "unsupported_media_type"),
        (
            {"content-type": "application/json", "accept": "image/png"},
            b'{"inputs": "a"}',
            406,
            "not_acceptable",
        ),
        ({"content-type": "application/json"}, b'{"inputs": ["fine", ""]}', 422, "empty_text"),
    ],
)
def test_client_errors_have_the_right_status_and_shape(
    server: ServerProcess, headers: dict[str, str], body: bytes, status: int, kind: str
) -> None:
    response = httpx.post(f"{server.url}/invocations", content=body, headers=headers)
    assert_error(response, status, kind)
    assert response.headers["x-request-id"]


def test_an_error_is_logged_once_with_its_request_id(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.url}/invocations", content=b"{", headers={"x-request-id": "trace-me-7"}
    )
    assert response.status_code == 400
    assert server.output().count("trace-me-7") == 1


def test_a_good_request_after_errors_still_works(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.url}/invocations", json={"inputs": ["a headline", "another one"]}
    )
    assert response.status_code == 200 and len(response.json()) == 2


def test_overload_is_503_with_retry_after_and_deadline_is_504(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    with serve_process(
        tiny_artifact, tmp_path, SERVE_MAX_QUEUE_TEXTS="1", SERVE_REQUEST_TIMEOUT_S="0.000001"
    ) as server:
        server.wait_for_ping()
        shed = httpx.post(f"{server.url}/invocations", json={"inputs": ["one", "two"]})
        assert_error(shed, 503, "overloaded")
        assert int(shed.headers["retry-after"]) >= 1
        late = httpx.post(f"{server.url}/invocations", json={"inputs": "one"})
        assert_error(late, 504, "deadline_exceeded")
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'serve_rejects_total{reason="queue_full"} 1.0' in metrics
        assert 'serve_rejects_total{reason="deadline"} 1.0' in metrics


def test_started_like_sagemaker_with_a_broken_artifact_it_listens_but_never_turns_ready(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "model"
    empty.mkdir()
    with serve_process(empty, tmp_path, sagemaker_style=True) as server:
        server.wait_for_ping(503)
        for _ in range(200):  # 503 "loading" first, then 503 "cannot be served"
            ping = httpx.get(f"{server.url}/ping")
            if "cannot be served" in ping.json()["error"]:
                break
            time.sleep(0.05)
        assert ping.status_code == 503 and "manifest.json" in ping.json()["error"]
        assert_error(
            httpx.post(f"{server.url}/invocations", json={"inputs": "a"}), 503, "not_ready"
        )
        assert server.process.poll() is None
        assert "Traceback" not in server.output()


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_sigterm_drains_in_flight_requests_and_exits_0(
    tiny_artifact: Path, tmp_path: Path, workers: str
) -> None:
    texts = [
        f"headline number {i} about markets, sport and science in the news today"
        for i in range(150)
    ]
    with serve_process(tiny_artifact, tmp_path, SERVE_WORKERS=workers) as server:
        server.wait_for_ping()
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            requests = [
                asyncio.create_task(client.post("/invocations", json={"inputs": texts}))
                for _ in range(16)
            ]
            for _ in range(200):  # wait until work is really queued on the server
                metrics = (await client.get("/metrics")).text
                if "serve_batch_size_count" in metrics and _gauge(metrics, "serve_queue_texts") > 0:
                    break
                await asyncio.sleep(0.01)
            server.process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*requests, return_exceptions=True)
        assert [getattr(r, "status_code", r) for r in responses] == [200] * len(requests)
        assert all(len(r.json()) == len(texts) for r in responses)  # type: ignore[union-attr]
        assert server.process.wait(30) == 0
        assert "draining" in server.output()


def test_several_workers_share_the_port_and_report_metrics_together(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    with serve_process(tiny_artifact, tmp_path, SERVE_WORKERS="2") as server:
        server.wait_for_ping()
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        assert len(children.read_text().split()) >= 2  # the workers (and uvicorn's helper)
        for i in range(40):  # a new connection each: the kernel spreads them over the workers
            answer = httpx.post(f"{server.url}/invocations", json={"inputs": f"headline {i}"})
            assert answer.status_code == 200
        for _ in range(6):  # whichever worker answers /metrics reports both workers' figures
            metrics = httpx.get(f"{server.url}/metrics").text
            assert _gauge(metrics, 'serve_requests_total{status="200"}') == 40
            assert _gauge(metrics, "serve_ready") == 1
            assert "serve_model_info{" in metrics
        assert "2 worker(s) x 1 thread(s)" in server.output()  # the plan, logged once
        port = int(server.url.rsplit(":", 1)[1])
        assert _listening_sockets(port) == 2  # one per worker: the kernel balances connections

        second = subprocess.run(
            [sys.executable, "-m", "service", "serve", "--model-dir", str(tiny_artifact)],
            env={**os.environ, "SERVE_HOST": "127.0.0.1", "SERVE_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0 and "Address already in use" in second.stderr


def _listening_sockets(port: int) -> int:
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A"
    )


def _gauge(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_serverless_memory_from_the_environment_sizes_the_workers(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    """SageMaker-style start with a small memory budget: one worker, however many cores."""
    with serve_process(
        tiny_artifact, tmp_path, sagemaker_style=True, SERVE_MEMORY_MB="300"
    ) as server:
        server.wait_for_ping()
        assert httpx.post(f"{server.url}/invocations", json={"inputs": "hi"}).status_code == 200
        assert "1 worker(s)" in server.output() and "fit in 300 MB" in server.output()
