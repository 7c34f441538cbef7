"""Multi-model endpoints, measured (`make bench-mme`): a real `serve --multi-model` on this
host, real HTTP, artifacts built by the code (`artifacts/default` when present, else the tiny
ONNX artifact of training/tiny_onnx_artifact.py). Prints four tables:

1. loading: per model count, the load's wall time, the first invoke after it (a cold invoke:
   the other workers load the model lazily), resident memory per model and in total;
2. the same total load (closed loop, fixed concurrency) over 1 model and over 10: req/s, p99;
3. a hot model offered 3x its capacity (open loop) beside a cold model at a light rate: the cold
   model's p99 alone and beside the flood (each model its own queue and shedding).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_common import load_texts, percentiles

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


async def closed_loop(
    url: str, names: list[str], texts: list[str], concurrency: int, seconds: float
) -> tuple[float, dict[str, float], int]:
    """`concurrency` clients, each request to a model drawn uniformly: (req/s, ms, errors)."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < stop:
                name = rng.choice(names)
                started = time.perf_counter()
                reply = await client.post(
                    f"{url}/models/{name}/invoke",
                    content=body(rng.choice(texts)),
                    headers={"content-type": "application/json"},
                )
                if reply.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, percentiles(latencies), errors


async def open_loop(
    client: httpx.AsyncClient, url: str, name: str, texts: list[str], rate: float, seconds: float
) -> tuple[list[float], int, int]:
    """Requests to `name` at `rate` per second whatever the answers: (latencies inside the
    server of the answered ones, from its x-server-time header; shed; other errors). The client
    shares the host's cores with the server: past its own capacity its waits are its own."""
    ok: list[float] = []
    counts = {"shed": 0, "other": 0}
    tasks: list[asyncio.Task[None]] = []

    async def one(payload: bytes) -> None:
        try:
            reply = await client.post(
                f"{url}/models/{name}/invoke",
                content=payload,
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError:
            counts["other"] += 1
            return
        if reply.status_code == 200:
            ok.append(float(reply.headers["x-server-time"]) / 1000)
        elif reply.status_code == 503:
            counts["shed"] += 1
        else:
            counts["other"] += 1

    began = time.perf_counter()
    sent = 0
    while (now := time.perf_counter()) < began + seconds:
        due = int((now - began) * rate) + 1
        while sent < due:
            tasks.append(asyncio.create_task(one(body(texts[sent % len(texts)]))))
            sent += 1
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    return ok, counts["shed"], counts["other"]


async def hot_and_cold(
    url: str, texts: list[str], capacity: float, seconds: float, cold_rate: float
) -> list[tuple[str, float, float, float, int]]:
    limits = httpx.Limits(max_connections=2048, max_keepalive_connections=2048)
    rows = []
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        alone, _, _ = await open_loop(client, url, "cold", texts, cold_rate, seconds)
        rows.append(("cold alone", cold_rate, len(alone) / seconds, percentiles(alone)["p99"], 0))
        hot, (cold, _, _) = await asyncio.gather(
            open_loop(client, url, "hot", texts, 3 * capacity, seconds),
            open_loop(client, url, "cold", texts, cold_rate, seconds),
        )
        rows.append(
            ("cold beside the flood", cold_rate, len(cold) / seconds, percentiles(cold)["p99"], 0)
        )
        rows.append(
            (
                "hot at 3x capacity",
                3 * capacity,
                len(hot[0]) / seconds,
                percentiles(hot[0])["p99"],
                hot[1],
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, help="artifact (default: artifacts/default)")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0, help="server workers (0: automatic)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
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
                for _ in range(6):
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
            print(
                "\nThe same total load (closed loop, "
                f"{args.concurrency} connections, {args.seconds:g} s) over 1 and over "
                f"{len(names)} models:\n"
            )
            print("| models | req/s | p50 (ms) | p99 (ms) | errors |")
            print("|---:|---:|---:|---:|---:|")
            results = {}
            for subset in (names[:1], names):
                rps, ms, errors = asyncio.run(
                    closed_loop(url, subset, texts, args.concurrency, args.seconds)
                )
                results[len(subset)] = rps
                print(
                    f"| {len(subset)} | {rps:.0f} | {ms['p50']:.1f} | {ms['p99']:.1f} | {errors} |"
                )
            for name in names:
                httpx.delete(f"{url}/models/{name}")
            for name in ("hot", "cold"):
                httpx.post(f"{url}/models", json={"model_name": name, "url": str(model_dir)})
                for _ in range(8):  # every worker loads it before the measurement
                    httpx.post(
                        f"{url}/models/{name}/invoke",
                        content=body(texts[0]),
                        headers={"content-type": "application/json", "connection": "close"},
                    )
            capacity = results[1]
            cold_rate = max(5.0, capacity / 20)
            print(
                f"\nA hot model offered 3x one model's capacity ({capacity:.0f} req/s), "
                f"open loop, beside a cold model at {cold_rate:.0f} req/s:\n"
            )
            print(
                "| traffic | offered req/s | answered req/s | p99 inside the server (ms) | shed (503) |"
            )
            print("|---|---:|---:|---:|---:|")
            for label, rate, answered, p99, shed in asyncio.run(
                hot_and_cold(url, texts, capacity, args.seconds, cold_rate)
            ):
                print(f"| {label} | {rate:.0f} | {answered:.0f} | {p99:.1f} | {shed} |")


if __name__ == "__main__":
    main()
