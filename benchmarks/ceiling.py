"""The in-process ceiling: the tokenizer and the ONNX Runtime session called directly, one
request's texts at a time, no HTTP, no batching across requests.

Every configuration of intra-op threads {1, all cores} × spin-wait {off, on} is tried, and with
several threads also spinning kept on between runs (ONNX Runtime's default, which the server
turns off); the best run of any counts, so the ceiling is the best in-process figure, not the
server's choice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import all_cores, percentiles


@dataclass(frozen=True)
class Config:
    """One ONNX Runtime session configuration."""

    threads: int
    spin_wait: bool
    keep_spinning: bool = False
    """Pool threads spin between runs too (ONNX Runtime's default)."""

    def label(self) -> str:
        plural = "" if self.threads == 1 else "s"
        spin = "on" if self.spin_wait else "off"
        if self.keep_spinning:
            spin += ", kept between runs"
        return f"{self.threads} intra-op thread{plural}, spin-wait {spin}"


def session_configs() -> list[Config]:
    """What the in-process ceilings try: 1 and all cores' threads, spinning off and on, and
    with several threads spinning kept between runs."""
    configs = [Config(n, spin) for n in sorted({1, all_cores()}) for spin in (False, True)]
    if all_cores() > 1:
        configs.append(Config(all_cores(), True, keep_spinning=True))
    return configs


@dataclass
class CeilingRun:
    """One timed in-process run (latency in ms per request)."""

    phase: str
    threads: int
    spin_wait: bool
    provider: str
    requests: int
    seconds: float
    rps: float
    p50: float
    p90: float
    p99: float
    keep_spinning: bool = False

    @property
    def config(self) -> Config:
        return Config(self.threads, self.spin_wait, self.keep_spinning)


class Ceiling:
    """One session per configuration, loaded and warmed up once; every run is kept in `runs`."""

    def __init__(self, model_dir: Path, groups: Sequence[list[str]]) -> None:
        from dataclasses import replace

        from service.backend.plan import plan_for
        from service.backend.session import OnnxBackend
        from service.settings import Settings

        # The server's device and precision, with each configuration's threads and spinning.
        plan = plan_for(Settings(model_dir=model_dir), single_process=True)
        self.configs = session_configs()
        self.backends = {
            config: OnnxBackend(
                model_dir,
                replace(plan, intra_op_threads=config.threads, spin_wait=config.spin_wait),
                spin_between_runs=config.keep_spinning,
            )
            for config in self.configs
        }
        self.groups = list(groups)
        self.runs: list[CeilingRun] = []
        for backend in self.backends.values():
            for group in self.groups[:50]:
                _infer(backend, group)

    def search(self, seconds: float, phase: str) -> list[CeilingRun]:
        """Every configuration in turn, sharing `seconds` equally."""
        share = seconds / len(self.configs)
        return [self.measure(config, share, phase) for config in self.configs]

    def best(self) -> CeilingRun:
        """The fastest run so far, of any configuration and phase."""
        return max(self.runs, key=lambda run: run.rps)

    def measure(self, config: Config, seconds: float, phase: str) -> CeilingRun:
        """Requests back to back for `seconds` with one configuration."""
        backend = self.backends[config]
        latencies: list[float] = []
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            group = self.groups[len(latencies) % len(self.groups)]
            started = time.perf_counter()
            _infer(backend, group)
            latencies.append(time.perf_counter() - started)
        elapsed = time.perf_counter() - began
        run = CeilingRun(
            phase=phase,
            threads=config.threads,
            spin_wait=config.spin_wait,
            keep_spinning=config.keep_spinning,
            provider=backend.provider,
            requests=len(latencies),
            seconds=elapsed,
            rps=len(latencies) / elapsed,
            **percentiles(latencies),
        )
        self.runs.append(run)
        return run


def _infer(backend: Any, texts: list[str]) -> np.ndarray:
    """What the server does for one request, minus HTTP and JSON: tokenize, pad, run."""
    ids = backend.encode(texts)
    longest = max(map(len, ids))
    input_ids = np.zeros((len(ids), longest), dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return backend.run(input_ids, mask)  # type: ignore[no-any-return]
