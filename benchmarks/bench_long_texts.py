"""Long documents: what reading the whole text costs. `chunk` against `right` truncation.

Builds (once, cached under artifacts/bench-long: benchmarks/bench_models.py) a model of the
default base's size (6 layers, hidden 384, max 512 tokens; random weights: speed does not
depend on them), exported through `python -m training export`, serves it with the real server, and sends documents of 300 to
2,000 tokens (the bundled sample headlines strung together) one per request from a few
concurrent clients. Prints texts/s, p50, p99, the padding share of the tokens the model ran,
and the share of each text the model read.

    python benchmarks/bench_long_texts.py [--texts 48] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_common import SAMPLE_TEXTS, load_texts, percentiles  # noqa: E402
from benchmarks.bench_models import long_text_artifact  # noqa: E402
from loadtests.local_server import local_server  # noqa: E402


def documents(count: int, seed: int = 0) -> list[str]:
    """Documents of about 300 to 2,000 tokens (~1.3 tokens per word here), from headlines."""
    headlines, _ = load_texts(SAMPLE_TEXTS)
    rng = random.Random(seed)
    docs = []
    for _ in range(count):
        words = rng.randint(230, 1540)
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(rng.choice(headlines).rstrip(".") + ".")
        docs.append(" ".join(parts))
    return docs


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def run_policy(url: str, docs: list[str], policy: str, concurrency: int) -> dict[str, float]:
    with httpx.Client(timeout=120) as client:
        before = client.get(f"{url}/metrics").text
        latencies: list[float] = []
        details: list[dict[str, float]] = []

        def send(doc: str) -> None:
            started = time.perf_counter()
            reply = client.post(
                f"{url}/invocations",
                json={"inputs": doc, "parameters": {"truncation": policy, "details": True}},
            )
            latencies.append(time.perf_counter() - started)
            reply.raise_for_status()
            details.append(reply.json()[0])

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(send, docs))
        elapsed = time.perf_counter() - started
        after = client.get(f"{url}/metrics").text
    padded = _metric(after, "serve_batch_padded_tokens_sum") - _metric(
        before, "serve_batch_padded_tokens_sum"
    )
    tokens = sum(d["tokens"] for d in details)
    windows = sum(d["windows"] for d in details)
    # Tokens the model ran for real: a window is at most 512, the last one of a text shorter.
    seen = sum(min(d["tokens"], 512) if d["windows"] == 1 else d["tokens"] for d in details)
    ran = seen + (windows - len(details)) * 64  # chunk windows overlap by the stride
    return {
        "texts_per_s": len(docs) / elapsed,
        **percentiles(latencies),
        "windows_per_text": windows / len(docs),
        "padding": 1 - ran / padded if padded else float("nan"),
        "read": seen / tokens,
        "mean_tokens": tokens / len(docs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    artifact = long_text_artifact()
    docs = documents(args.texts)
    rows = {}
    with local_server(artifact, ready_timeout=300) as url:
        for policy in ("right", "chunk"):
            run_policy(url, docs[:4], policy, args.concurrency)  # warm the path
            rows[policy] = run_policy(url, docs, policy, args.concurrency)
    print(
        f"\n{args.texts} documents, {rows['right']['mean_tokens']:.0f} tokens on average "
        f"(300-2,000), model max 512 tokens, {args.concurrency} concurrent clients, one text per request\n"
    )
    print("| policy | texts/s | p50 ms | p99 ms | windows/text | padding | share of text read |")
    print("|---|---|---|---|---|---|---|")
    for policy, r in rows.items():
        print(
            f"| {policy} | {r['texts_per_s']:.2f} | {r['p50']:.0f} | {r['p99']:.0f} | "
            f"{r['windows_per_text']:.2f} | {r['padding']:.1%} | {r['read']:.0%} |"
        )
    cost = rows["right"]["texts_per_s"] / rows["chunk"]["texts_per_s"]
    print(
        f"\nreading the whole text (chunk) costs {cost:.1f}x the time of reading its start (right)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
