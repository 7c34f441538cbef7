"""Multi-model endpoints, measured (`make bench-mme`): a real `serve --multi-model` on this
host, real HTTP, artifacts built by the code (`artifacts/default` when present, else the tiny
ONNX artifact of training/tiny_onnx_artifact.py). Prints three tables:

1. loading: per model count, the load's wall time, the first invoke after it (a cold invoke:
   the other workers load the model lazily), resident memory per model and in total;
2. the same total load (wrk, closed loop, fixed connections) over 1 model and over 10: req/s,
   p50 and p99;
3. a hot model flooded far past its capacity (wrk, many connections, each 503 sent again at
   once; the offered multiple of capacity is printed) beside a cold model at a light open-loop
   rate: the cold model's latency inside the server alone and beside the flood.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_common import load_texts, percentiles
from load_client import WRK_SCRIPT, find_wrk, write_bodies

from loadtests.local_server import free_port, server_process

ROOT = Path(__file__).resolve().parent.parent


def artifact(given: Path | None, scratch: Path) -> tuple[Path, str]:
    if given is not None:
        return given, str(given)
    default = ROOT / "artifacts" / "default"
    if (default / "manifest.json").is_file():
        return default, "artifacts/default"
    from training.tiny_onnx_artifact import build_onnx_artifact

    return build_onnx_artifact(scratch / "tiny"), "tiny ONNX artifact (artifacts/default absent)"


def workers_rss_mb(parent: int) -> float:
    """Resident MB of the server's processes: the parent and its children (the workers)."""
    pids = [parent]
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        pids += [int(p) for p in children]
    except OSError:
        pass
    total = 0.0
    for pid in pids:
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        total += pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    return total


def body(text: str) -> bytes:
    return httpx.Request("POST", "/", json={"inputs": text}).content


def wrk_runs(
    wrk: str, bodies: Path, url: str, load: dict[str, int], seconds: int
) -> dict[str, dict[str, Any]]:
    """One wrk per model at once (closed loop, `load[name]` connections each): its figures."""
    figures = {}
    with contextlib.ExitStack() as files:
        runs = {}
        for name, connections in load.items():
            out = files.enter_context(tempfile.TemporaryFile("w+"))
            command = [
                wrk,
                f"-t{1 + connections // 512}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout=30s",
                "-s",
            ]
            command += [str(WRK_SCRIPT), f"{url}/models/{name}/invoke", "--", str(bodies)]
            runs[name] = (subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT), out)
        for name, (process, out) in runs.items():
            process.wait()
            out.seek(0)
            lines = [line for line in out.read().splitlines() if line.startswith("{")]
            if process.returncode or not lines:
                sys.exit(f"bench-mme: wrk failed on {name}")
            figures[name] = json.loads(lines[-1])
    return figures


def rate(figures: dict[str, Any]) -> float:
    return float(figures["requests"]) / max(float(figures["duration_s"]), 1e-9)


async def open_loop(
    url: str, name: str, texts: list[str], per_second: float, seconds: float
) -> list[float]:
    """Requests to `name` at a light fixed rate whatever the answers: each answered one's
    time inside the server (its x-server-time header), in seconds."""
    inside: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(payload: bytes) -> None:
            reply = await client.post(
                f"{url}/models/{name}/invoke",
                content=payload,
                headers={"content-type": "application/json"},
            )
            if reply.status_code == 200:
                inside.append(float(reply.headers["x-server-time"]) / 1000)

        began = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) < began + seconds:
            while sent < int((now - began) * per_second) + 1:
                tasks.append(asyncio.create_task(one(body(texts[sent % len(texts)]))))
                sent += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
    return inside


def cold_beside(
    wrk: str, bodies: Path, url: str, texts: list[str], hot: int, seconds: int, cold_rate: float
) -> tuple[list[float], dict[str, Any] | None]:
    """The cold model's latencies at `cold_rate`, with `hot` wrk connections on the hot model
    meanwhile (0: alone)."""
    if not hot:
        return asyncio.run(open_loop(url, "cold", texts, cold_rate, seconds)), None
    result: dict[str, dict[str, Any]] = {}
    thread = threading.Thread(
        target=lambda: result.update(wrk_runs(wrk, bodies, url, {"hot": hot}, seconds + 1))
    )
    thread.start()
    time.sleep(0.5)  # the hot model's queue is full before the cold model is measured
    cold = asyncio.run(open_loop(url, "cold", texts, cold_rate, seconds))
    thread.join()
    return cold, result["hot"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, help="artifact (default: artifacts/default)")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0, help="server workers (0: automatic)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    texts, source = load_texts(None)
    texts = texts[:2000]
    with tempfile.TemporaryDirectory() as scratch:
        model_dir, described = artifact(args.model_dir, Path(scratch))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "service", "serve", "--multi-model", "--port", str(port)]
        env = {"SERVE_HOST": "127.0.0.1"}
        if args.workers:
            env["SERVE_WORKERS"] = str(args.workers)
        with server_process(command, url, env=env, log_path=Path(scratch) / "serve.log") as server:
            server.wait_for_ping()
            print(f"model: {described}; texts: {source}; {os.cpu_count()} cores")
            idle = workers_rss_mb(server.process.pid)
            print(f"\nserver with no model: {idle:.0f} MB resident (all processes)\n")
            print(
                "| models | load (ms) | cold invoke (ms) | warm invoke p50 (ms) | "
                "measured MB/model/worker | resident MB (all) |"
            )
            print("|---:|---:|---:|---:|---:|---:|")
            names = [f"m{i}" for i in range(args.models)]
            for count, name in enumerate(names, start=1):
                started = time.perf_counter()
                loaded = httpx.post(
                    f"{url}/models", json={"model_name": name, "url": str(model_dir)}, timeout=120
                )
                load_ms = (time.perf_counter() - started) * 1000
                if loaded.status_code != 200:
                    sys.exit(f"bench-mme: loading {name}: {loaded.status_code} {loaded.text}")
                # New connections spread over the workers: the slowest of the first few is
                # the lazy load in a worker that had not seen the model.
                firsts = []
                for _ in range(16):
                    started = time.perf_counter()
                    reply = httpx.post(
                        f"{url}/models/{name}/invoke",
                        content=body(texts[0]),
                        headers={"content-type": "application/json", "connection": "close"},
                    )
                    firsts.append((time.perf_counter() - started) * 1000)
                    assert reply.status_code == 200, reply.text
                warm = []
                with httpx.Client() as client:
                    for text in texts[:50]:
                        started = time.perf_counter()
                        client.post(
                            f"{url}/models/{name}/invoke",
                            content=body(text),
                            headers={"content-type": "application/json"},
                        )
                        warm.append(time.perf_counter() - started)
                memory = httpx.get(f"{url}/models/{name}").json()["memoryMb"]
                if count in (1, 2, 5, 10) or count == len(names):
                    print(
                        f"| {count} | {load_ms:.0f} | {max(firsts):.1f} | "
                        f"{percentiles(warm)['p50']:.2f} | {memory:.1f} | "
                        f"{workers_rss_mb(server.process.pid):.0f} |"
                    )
            wrk = find_wrk()
            bodies = write_bodies([[t] for t in texts], False, Path(scratch) / "bodies.txt")
            seconds = args.seconds
            total = args.concurrency
            print(
                f"\nThe same total load (wrk, closed loop, {total} connections, {seconds} s) "
                f"over 1 model and over {len(names)} models (the connections shared out):\n"
            )
            print("| models | req/s | p50 (ms), worst model | p99 (ms), worst model | errors |")
            print("|---:|---:|---:|---:|---:|")
            capacity = 0.0
            for subset in (names[:1], names):
                share = max(1, total // len(subset))
                figures = wrk_runs(wrk, bodies, url, dict.fromkeys(subset, share), seconds)
                rps = sum(rate(f) for f in figures.values())
                capacity = capacity or rps
                p50 = max(float(f["p50"]) for f in figures.values())
                p99 = max(float(f["p99"]) for f in figures.values())
                errors = sum(sum(f["errors"].values()) for f in figures.values())
                print(f"| {len(subset)} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {errors} |")
            for name in names:
                httpx.delete(f"{url}/models/{name}")
            for name in ("hot", "cold"):
                httpx.post(f"{url}/models", json={"model_name": name, "url": str(model_dir)})
                for _ in range(16):  # every worker loads it before the measurement
                    httpx.post(
                        f"{url}/models/{name}/invoke",
                        content=body(texts[0]),
                        headers={"content-type": "application/json", "connection": "close"},
                    )
            cold_rate = 10.0
            hot = 64 * total  # enough waiting requests to pass the 1 s queue bound: shed
            print(
                f"\nA hot model flooded (wrk, {hot} connections, a 503 sent again at once) "
                f"beside a cold model at {cold_rate:.0f} req/s (open loop); one model's "
                f"capacity above: {capacity:.0f} req/s:\n"
            )
            print(
                "| cold model | its p50 / p99 inside the server (ms) | hot offered "
                "(x capacity) | hot answered req/s | hot shed (503) | hot p99 (ms) |"
            )
            print("|---|---:|---:|---:|---:|---:|")
            for label, connections in (("alone", 0), ("beside the flood", hot)):
                cold, flood = cold_beside(wrk, bodies, url, texts, connections, seconds, cold_rate)
                ms = percentiles(cold)
                if flood is None:
                    print(f"| {label} | {ms['p50']:.1f} / {ms['p99']:.1f} | - | - | - | - |")
                    continue
                shed = int(flood["errors"]["status"])
                offered = rate(flood)
                answered = offered * (1 - shed / max(1, int(flood["requests"])))
                print(
                    f"| {label} | {ms['p50']:.1f} / {ms['p99']:.1f} | "
                    f"{offered / capacity:.1f}x | {answered:.0f} | {shed} | {flood['p99']:.1f} |"
                )


if __name__ == "__main__":
    main()
