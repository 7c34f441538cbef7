"""The in-process ceiling for throughput: texts sorted by token length and cut into batches of
32, each batch tokenized, padded, run and turned into probabilities, back to back, no HTTP.
Best of the session configurations the batch-1 ceiling tries (ceiling.py). What a perfect
offline scorer does with the same variant; the server under load is measured against it."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from ceiling import Config, session_configs

BATCH = 32


@dataclass
class SortedRun:
    threads: int
    spin_wait: bool
    keep_spinning: bool
    texts: int
    seconds: float
    texts_per_s: float

    def label(self) -> str:
        return str(Config(self.threads, self.spin_wait, self.keep_spinning).label())


def _backend(model_dir: Path, config: Config) -> Any:
    from service.backend.plan import plan_for
    from service.backend.session import OnnxBackend
    from service.settings import Settings

    plan = plan_for(Settings(model_dir=model_dir), single_process=True)
    return OnnxBackend(
        model_dir,
        replace(plan, intra_op_threads=config.threads, spin_wait=config.spin_wait),
        spin_between_runs=config.keep_spinning,
    )


def _batches(backend: Any, texts: Sequence[str]) -> list[list[str]]:
    """Length-sorted batches in a shuffled order: a run that ends part-way through the texts
    then times a fair sample of lengths. In sorted order it timed the shortest texts first,
    which overstated the ceiling by about 30% (measured on the BERT-base-sized model)."""
    lengths = [len(ids) for ids in backend.encode(list(texts))]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    ranked = [texts[i] for i in order]
    batches = [ranked[i : i + BATCH] for i in range(0, len(ranked), BATCH)]
    random.Random(0).shuffle(batches)
    return batches


def _run(backend: Any, batch: list[str]) -> np.ndarray:
    ids = backend.encode(batch)  # timed: tokenization is part of the work
    longest = max(map(len, ids))
    input_ids = np.full((len(ids), longest), backend.pad_id, dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return backend.run(input_ids, mask)  # type: ignore[no-any-return]


def sorted_ceiling(model_dir: Path, texts: Sequence[str], seconds: float) -> list[SortedRun]:
    """Every configuration for an equal share of `seconds`; the caller takes the best."""
    runs = []
    configs = session_configs()
    for config in configs:
        backend = _backend(model_dir, config)
        batches = _batches(backend, texts)
        for batch in batches[:3]:
            _run(backend, batch)  # warm up
        done = 0
        began = time.perf_counter()
        for batch in itertools.cycle(batches):
            if time.perf_counter() - began >= seconds / len(configs):
                break
            _run(backend, batch)
            done += len(batch)
        elapsed = time.perf_counter() - began
        runs.append(
            SortedRun(
                config.threads,
                config.spin_wait,
                config.keep_spinning,
                done,
                elapsed,
                done / elapsed,
            )
        )
    return runs
