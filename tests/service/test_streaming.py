"""Large line-oriented bodies through a real server: batch transform's 6 MB mini-batches and
asynchronous inference's 100 MB payloads, answered as a stream in input order with memory
bounded (the body held once, never all its token ids)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from service_helpers import serve_process

from loadtests.local_server import ServerProcess

pytestmark = pytest.mark.slow

WORDS = [
    "markets",
    "rally",
    "as",
    "the",
    "central",
    "bank",
    "holds",
    "rates",
    "while",
    "the",
    "team",
    "wins",
    "the",
    "final",
]


def _record(i: int, words: int) -> bytes:
    text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(words))
    return json.dumps({"id": i, "inputs": text}).encode() + b"\n"


@pytest.fixture(scope="module")
def server(
    tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with serve_process(tiny_artifact, tmp_path_factory.mktemp("logs"), SERVE_WORKERS="1") as s:
        s.wait_for_ping()
        yield s


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_6_mb_multirecord_mini_batch_is_answered_in_order(server: ServerProcess) -> None:
    advertised = requests.get(f"{server.url}/execution-parameters", timeout=10).json()
    records: list[bytes] = []
    size = 0
    while size < 6 * 1024 * 1024 - 200:  # as much as SageMaker sends in one mini-batch
        records.append(_record(len(records), 6 + len(records) % 20))
        size += len(records[-1])
    records[123] = b'{"id": 123, "inputs": \n'  # malformed: an error line in its place
    body = b"".join(records)
    assert len(body) <= advertised["MaxPayloadInMB"] * 1024 * 1024
    started = time.perf_counter()
    reply = requests.post(
        f"{server.url}/invocations",
        data=body,
        headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
        timeout=600,
    )
    seconds = time.perf_counter() - started
    assert reply.status_code == 200
    lines = reply.content.splitlines()
    print(f"\n6 MB mini-batch: {len(records)} records in {seconds:.1f} s")
    assert len(lines) == len(records)  # one output line per input record: joinable
    assert json.loads(lines[123])["type"] == "bad_request"
    for index in (0, 1, 5000, len(records) - 1):  # each line answers its own record
        text = json.loads(records[index])["inputs"]
        alone = requests.post(f"{server.url}/invocations", json={"inputs": text}, timeout=30)
        assert json.loads(lines[index])["label"] == alone.json()[0]["label"]
        assert json.loads(lines[index])["score"] == pytest.approx(
            alone.json()[0]["score"], abs=1e-5
        )


def test_csv_and_json_answers_stream_too(server: ServerProcess) -> None:
    rows = "\n".join(f'"{" ".join(WORDS[: 3 + i % 9])}"' for i in range(80000)) + "\n"
    assert len(rows) > 1024 * 1024
    as_csv = requests.post(
        f"{server.url}/invocations",
        data=rows.encode(),
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        timeout=600,
    )
    assert as_csv.status_code == 200 and len(as_csv.text.splitlines()) == 80000
    as_json = requests.post(
        f"{server.url}/invocations",
        data=rows.encode(),
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
        timeout=600,
    )
    assert as_json.status_code == 200 and len(as_json.json()) == 80000


def test_a_100_mb_body_streams_with_bounded_memory(server: ServerProcess) -> None:
    long_words = 1800  # ~10 KB per record, truncated to the model's 32 tokens
    record = _record(0, long_words)
    count = (100 * 1024 * 1024) // len(record) + 1
    body = record * count
    pid = server.process.pid
    before = _peak_rss_mb(pid)
    started = time.perf_counter()
    with requests.post(
        f"{server.url}/invocations",
        data=body,
        headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
        timeout=900,
        stream=True,
    ) as reply:
        assert reply.status_code == 200
        answered = sum(1 for line in reply.iter_lines() if line)
    seconds = time.perf_counter() - started
    peak = _peak_rss_mb(pid)
    body_mb = len(body) / 1024 / 1024
    print(
        f"\n100 MB body: {count} records in {seconds:.1f} s; server peak RSS {before:.0f} -> "
        f"{peak:.0f} MB (+{peak - before:.0f} MB for a {body_mb:.0f} MB body)"
    )
    assert answered == count
    assert peak - before < 1.6 * body_mb  # the body once, plus bounded working memory
