"""Overload without collapse: what keeps a retry storm from carrying over, and what keeps its
refusals cheap. A real server process and real HTTP clients where the behaviour is HTTP's; the
batching core and the predictor on their own where it is theirs. Nothing here is timed for
speed: the storm's figures are `make bench-serve`'s."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from service_helpers import serve_process

from service.backend.plan import BatchLimits, plan_for
from service.backend.session import OnnxBackend
from service.backend.shared_tables import find_tables, mapped_tables
from service.core import batcher as batcher_module
from service.core.batcher import Batcher
from service.core.errors import ClientGone, Overloaded
from service.core.length_queue import LengthQueue, Pending
from service.core.predictor import _unless_gone
from service.core.retry_hold import RetryHold
from service.memory import PARTS, resident_mb
from service.metrics import Metrics
from service.settings import Settings

TWO_TEXTS = json.dumps({"inputs": ["one", "two"]})
_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of `root` and its descendants (Linux /proc)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    total, frontier = 0.0, [root]
    while frontier:
        pid = frontier.pop()
        total += stats.get(pid, (0, 0.0))[1]
        frontier += [child for child, (parent, _) in stats.items() if parent == pid]
    return total


def _post(connection: http.client.HTTPConnection) -> tuple[int, dict[str, str], float]:
    """Status, headers and the server's own time (ms) of one refused-or-not request."""
    connection.request("POST", "/invocations", TWO_TEXTS, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, headers, float(headers["x-server-time"])


def test_a_refusal_is_held_only_for_a_client_that_retried_before_retry_after(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    """A queue of one text refuses every two-text request (503, Retry-After: 1). The first
    refusal on a connection goes out at once; one that comes back at once is held for the
    Retry-After it ignored, and keeps its Retry-After; a connection that waited as told, or a
    new one, is answered at once again."""
    with serve_process(tiny_artifact, tmp_path, SERVE_MAX_QUEUE_TEXTS="1") as server:
        server.wait_for_ping()
        host, port = server.url.removeprefix("http://").split(":")
        eager = http.client.HTTPConnection(host, int(port), timeout=10)
        status, headers, first_ms = _post(eager)
        assert status == 503 and headers["retry-after"] == "1" and first_ms < 500
        status, headers, again_ms = _post(eager)  # at once, ignoring Retry-After
        assert status == 503 and headers["retry-after"] == "1" and again_ms >= 999
        other = http.client.HTTPConnection(host, int(port), timeout=10)
        status, headers, other_ms = _post(other)
        assert status == 503 and other_ms < 500
        time.sleep(1.1)  # as told
        status, headers, patient_ms = _post(other)
        assert status == 503 and patient_ms < 500
        eager.close()
        other.close()


async def test_held_refusals_cost_the_server_no_cpu(tiny_artifact: Path, tmp_path: Path) -> None:
    """32 connections retry at once after their 503: each refusal is held for a second, and
    the server spends (next to) no CPU while they wait."""
    with serve_process(tiny_artifact, tmp_path, SERVE_MAX_QUEUE_TEXTS="1") as server:
        server.wait_for_ping()
        host, port = server.url.removeprefix("http://").split(":")
        connections = [http.client.HTTPConnection(host, int(port), timeout=10) for _ in range(32)]
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(len(connections)) as pool:
            first = await asyncio.gather(
                *(loop.run_in_executor(pool, _post, c) for c in connections)
            )
            assert all(status == 503 for status, _, _ in first)
            before = tree_cpu_seconds(server.process.pid)
            started = time.perf_counter()
            answers = await asyncio.gather(
                *(loop.run_in_executor(pool, _post, c) for c in connections)
            )
            elapsed = time.perf_counter() - started
        cpu = tree_cpu_seconds(server.process.pid) - before
        assert all(status == 503 and "retry-after" in h for status, h, _ in answers)
        assert min(ms for _, _, ms in answers) >= 999 and elapsed >= 1.0
        # 32 refusals of ~0.2 ms each, and timers: a small fraction of a core over the second.
        assert cpu < 0.3 * elapsed, f"{cpu:.2f} s of CPU while 32 refusals were held"
        for connection in connections:
            connection.close()


def test_the_hold_forgets_clients_that_waited_and_never_grows_past_its_bound() -> None:
    hold = RetryHold(max_clients=4)
    assert hold.hold_s(("10.0.0.1", 1), 1) == 0.0
    assert hold.hold_s(("10.0.0.1", 1), 1) == 1.0  # back at once: held
    assert hold.hold_s(None, 1) == 0.0  # no address (a Unix socket): never held
    for port in range(2, 12):
        hold.hold_s(("10.0.0.1", port), 1)
    assert len(hold._refused_until) <= 4


async def test_a_burst_let_in_on_arrival_counts_as_queued_work() -> None:
    """Requests let in before their bodies are read count as work ahead until their texts are
    queued: a burst read in one loop turn no longer finds an empty queue every time (512
    retrying connections had queued 40 s of work)."""
    limits = BatchLimits(max_batch_tokens=64, max_batch_size=8, max_wait_ahead_s=1.0)
    batcher = Batcher(lambda ids, mask: np.zeros((len(ids), 2), np.float32), None, limits,  # type: ignore[arg-type]
                      max_length=16, labels=2)  # fmt: skip
    batcher.start()
    batcher.seed_speed(10.0)  # texts per second; a request is one text until one is queued
    let_in = 0
    with pytest.raises(Overloaded, match="queued ahead"):
        for _ in range(100):
            batcher.admit(0)
            let_in += 1
    assert let_in == 11  # 1.1 s of work ahead is over the bound
    # A request let in on arrival that is refused once its size is known gives its place back.
    batcher.arrival_refused()
    batcher.admit(0)
    await batcher.stop(1)


async def test_arrivals_that_never_come_back_lapse(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = BatchLimits(max_batch_tokens=64, max_batch_size=8, max_wait_ahead_s=1.0)
    batcher = Batcher(lambda ids, mask: np.zeros((len(ids), 2), np.float32), None, limits,  # type: ignore[arg-type]
                      max_length=16, labels=2)  # fmt: skip
    batcher.start()
    batcher.seed_speed(10.0)
    for _ in range(11):
        batcher.admit(0)
    with pytest.raises(Overloaded):
        batcher.admit(0)
    later = time.monotonic() + batcher_module.ARRIVAL_HOLD_S + 0.1
    monkeypatch.setattr("service.core.batcher.time.monotonic", lambda: later)
    batcher.admit(0)  # the eleven lapsed: their bodies never came
    monkeypatch.undo()  # the event loop reads the same clock
    await batcher.stop(1)


class _Waiting:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def expected_wait_s(self) -> float:
        return self.seconds


async def test_a_client_gone_while_its_texts_wait_takes_them_out_of_the_queue() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[np.ndarray] = loop.create_future()

    async def gone() -> None:
        await asyncio.sleep(0.01)

    with pytest.raises(ClientGone):
        await _unless_gone(future, time.perf_counter() + 5, gone, _Waiting(1.0))  # type: ignore[arg-type]
    assert future.cancelled()  # the length queue skips a cancelled request's texts


async def test_a_short_wait_is_not_watched() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[np.ndarray] = loop.create_future()
    watched = []

    async def gone() -> None:
        watched.append(True)

    loop.call_later(0.01, future.set_result, np.ones(1))
    result = await _unless_gone(future, time.perf_counter() + 5, gone, _Waiting(0.0))  # type: ignore[arg-type]
    assert result.tolist() == [1.0] and not watched


def test_embedding_tables_are_mapped_from_the_file_and_give_the_same_scores(
    tiny_artifact: Path,
) -> None:
    """The tiny model's word embeddings are read only by a lookup: mapped from the file they
    give the scores the session's own copy gives."""
    plan = plan_for(Settings(model_dir=tiny_artifact, device="cpu"), single_process=True)
    backend = OnnxBackend(tiny_artifact, plan)
    graph = tiny_artifact / backend.manifest.variant_for("cpu", plan.precision).file
    tables = find_tables(graph, min_bytes=1)
    assert tables and any("embed" in t.name for t in tables), tables
    options = ort.SessionOptions()
    mapped = mapped_tables(graph, min_bytes=1)
    for name, value in mapped:
        options.add_initializer(name, value)
    shared = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    plain = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    ids = np.asarray(backend.encode(["stocks rally as rates hold"]), dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    feeds = {i.name: feeds.get(i.name, np.zeros_like(ids)) for i in plain.get_inputs()}
    assert np.allclose(shared.run(None, feeds)[0], plain.run(None, feeds)[0])
    assert find_tables(tiny_artifact / "manifest.json") == []  # not ONNX: left to the session


def test_a_worker_reports_where_its_memory_went(tiny_artifact: Path) -> None:
    plan = plan_for(Settings(model_dir=tiny_artifact, device="cpu"), single_process=True)
    backend = OnnxBackend(tiny_artifact, plan)
    backend.warm_up([8, 16], 4, 64)
    assert set(backend.memory_mb) == set(PARTS)
    # In this long-lived test process a tiny session may reuse freed memory: only the sum is
    # sure (a real worker's parts are checked by tests/service/test_bench_serve.py).
    assert backend.memory_mb["python"] > 10
    assert sum(backend.memory_mb.values()) <= resident_mb() + 1
    metrics = Metrics()
    metrics.memory(backend.memory_mb)
    exposition = metrics.exposition().decode()
    assert 'serve_memory_bytes{part="sessions"}' in exposition


async def test_a_batch_takes_the_oldest_requests_texts_before_newer_ones_of_the_same_length() -> (
    None
):
    """Under load every request used to finish late together: a batch took the oldest
    request's texts of one length and filled up with newer requests' texts of that length.
    Now the oldest request's texts of every nearby length come first."""
    loop = asyncio.get_running_loop()
    queue = LengthQueue(max_length=64, max_batch_tokens=256, max_batch_size=8)
    old = Pending(loop.create_future(), 8, 2)
    queue.put(old, [[5] * n for n in (12, 12, 11, 13, 14, 12, 10, 11)])
    newer = Pending(loop.create_future(), 8, 2)
    newer.enqueued_at = old.enqueued_at + 0.01
    queue.put(newer, [[6] * 12 for _ in range(8)])
    batch = queue.take()
    assert [text.pending for text in batch] == [old] * 8
    assert [text.pending for text in queue.take()] == [newer] * 8
