"""Rerank a query against a thousand documents: `/rerank` against doing it by hand.

Builds (once, cached under artifacts/bench-rerank) a cross-encoder of ms-marco-MiniLM-L-6's
shape (BERT, 6 layers, hidden 384, one logit; random weights: speed does not depend on them)
with the default base's tokenizer, exported with `python -m training export --pairs`, and
serves it with the real server. Then, for the same query and 1,000 documents of one or two
sample headlines each, it times:

- `/rerank`: one request; the server splits the pairs across batches and sorts;
- by hand, through the server: the 1,000 (query, document) pairs in one `/invocations` request,
  sorted by the client;
- by hand, through the server, one pair per request (what a client without batching does),
  from 8 threads;
- by hand, in-process: transformers and PyTorch, batches of 32, sorted (what one writes
  without a server).

Each figure is the median of `--rounds`; "same order" compares each ranking with /rerank's
(scores within 1e-4 count as ties).

    python benchmarks/bench_rerank.py [--documents 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.local_server import local_server  # noqa: E402
from training.data import sample_texts  # noqa: E402

OUT = ROOT / "artifacts" / "bench-rerank"
QUERY = "central bank raises interest rates as inflation climbs"


def cross_encoder() -> tuple[Path, Path]:
    """(checkpoint, artifact), built and exported once."""
    checkpoint, artifact = OUT / "checkpoint", OUT / "artifact"
    if (artifact / "manifest.json").is_file():
        return checkpoint, artifact
    from transformers import BertConfig, BertForSequenceClassification

    from training.base_model import DEFAULT_BASE, load_tokenizer
    from training.cli import main as training_cli

    config = BertConfig(  # type: ignore[no-untyped-call]
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        num_labels=1,
        id2label={0: "relevance"},
        label2id={"relevance": 0},
    )
    BertForSequenceClassification(config).save_pretrained(checkpoint)  # type: ignore[no-untyped-call]
    tokenizer = load_tokenizer(DEFAULT_BASE)
    tokenizer.model_max_length = 512
    # A BERT cross-encoder's tokenizer gives token type ids (the default base's does not).
    tokenizer.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    tokenizer.save_pretrained(checkpoint)
    args = ["export", "--model", str(checkpoint), "--output", str(artifact), "--pairs"]
    if training_cli([*args, "--fp16", "off", "--cpu-variant", "fp32"]) != 0:
        sys.exit("bench: exporting the cross-encoder failed")
    return checkpoint, artifact


def documents(count: int) -> list[str]:
    texts = list(sample_texts())
    return [
        texts[i % len(texts)] + ("" if i % 2 else " " + texts[(i * 7 + 3) % len(texts)])
        for i in range(count)
    ]


def timed(
    methods: list[tuple[str, Callable[[], list[float]]]], rounds: int
) -> list[tuple[str, float, list[float]]]:
    """Median seconds per method; rounds interleave the methods, each round starting with the
    next one, so a slow spell on a shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name, _ in methods}
    scores: dict[str, list[float]] = {}
    for round_ in range(rounds):
        for name, work in methods[round_ % len(methods) :] + methods[: round_ % len(methods)]:
            started = time.perf_counter()
            scores[name] = work()
            times[name].append(time.perf_counter() - started)
    return [(name, statistics.median(times[name]), scores[name]) for name, _ in methods]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    checkpoint, artifact = cross_encoder()
    docs = documents(args.documents)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch_model = (
        AutoModelForSequenceClassification.from_pretrained(str(checkpoint)).eval(),
        AutoTokenizer.from_pretrained(str(checkpoint)),  # type: ignore[no-untyped-call]
    )
    env = {"SERVE_WORKERS": "1", "SERVE_DEVICE": "cpu", "SERVE_PRECISION": "fp32"}
    with (
        local_server(artifact, env=env, ready_timeout=300) as url,
        httpx.Client(base_url=url, timeout=300) as client,
    ):

        def rerank() -> list[float]:
            reply = client.post("/rerank", json={"query": QUERY, "texts": docs}).json()
            return [r["score"] for r in sorted(reply, key=lambda r: r["index"])]

        def invocations_whole() -> list[float]:
            pairs = [{"text": QUERY, "text_pair": d} for d in docs]
            answers = client.post("/invocations", json={"inputs": pairs}).json()
            return [a["scores"][0]["score"] for a in answers]

        shed: list[int] = []

        def one_pair(doc: str) -> float:
            body = {"inputs": {"text": QUERY, "text_pair": doc}}
            while True:  # a shed request (503) is sent again after its Retry-After
                reply = client.post("/invocations", json=body)
                if reply.status_code != 503:
                    break
                shed.append(1)
                time.sleep(float(reply.headers.get("retry-after", "1")))
            reply.raise_for_status()
            return float(reply.json()[0]["scores"][0]["score"])

        def invocations_one_by_one() -> list[float]:
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(one_pair, docs))

        rerank()  # warm the connection and the shapes
        rows = timed(
            [
                ("/rerank, one request", rerank),
                ("/invocations, all pairs in one request", invocations_whole),
                ("/invocations, one pair per request (8 threads)", invocations_one_by_one),
                ("in-process transformers, batches of 32", lambda: in_process(*torch_model, docs)),
            ],
            args.rounds,
        )
    reference = np.asarray(rows[0][2])
    print(f"\nRerank: 1 query x {len(docs)} documents, cross-encoder 6x384 (fp32), this machine")
    print(f"{'method':<50} {'seconds':>8} {'docs/s':>8} {'same order':>11}")
    if shed:
        print(f"(one pair per request: {len(shed)} requests shed with 503 and sent again)")
    for name, secs, got in rows:
        same = _same_order(reference, np.asarray(got))
        print(f"{name:<50} {secs:>8.3f} {len(docs) / secs:>8.0f} {'yes' if same else 'NO':>11}")
    return 0


def in_process(model: Any, tokenizer: Any, docs: list[str]) -> list[float]:
    """Score and sort with transformers and PyTorch (the model loaded beforehand)."""
    import torch

    scores: list[float] = []
    with torch.inference_mode():
        for i in range(0, len(docs), 32):
            chunk = docs[i : i + 32]
            feeds = tokenizer(
                [QUERY] * len(chunk), chunk, padding=True, truncation=True, return_tensors="pt"
            )
            scores.extend(torch.sigmoid(model(**feeds).logits[:, 0]).tolist())
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # the ranking a user computes
    assert len(order) == len(docs)
    return scores


def _same_order(reference: np.ndarray, got: np.ndarray) -> bool:
    """Rankings agree up to ties: sorting by one, the other's scores never rise by > 1e-4."""
    order = np.argsort(-reference, kind="stable")
    return bool(np.all(np.diff(got[order]) <= 1e-4))


if __name__ == "__main__":
    raise SystemExit(main())
