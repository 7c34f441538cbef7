"""Whether one more model fits: the memory budget of a multi-model server.

The budget is the container's memory (SERVE_MEMORY_MB, else the cgroup limit) less a margin.
What is in use is the resident memory of every worker process (each registers its pid here),
plus the supervisor's share inside the margin. What a model will cost is known before loading
it from measurement, not file size alone: each load records the resident memory the worker
gained (sessions, tokenizer, warm-up buffers) per MB of its ONNX graph, and the next model is
estimated from the largest ratio seen so far (before any load, a conservative first guess).
A load that would pass the budget is refused (507) before it starts; one whose measured cost
passed it anyway is undone. So the kernel's OOM killer never has to choose.
"""

from __future__ import annotations

import os
from pathlib import Path

from service.memory import resident_mb

FIRST_RATIO = 4.0
"""MB resident per MB of graph before anything was measured (measured later: docs/serving.md)."""
FIXED_MB = 30.0
"""What a model costs beside its graph (tokenizer, warm-up buffers, Python objects)."""
BIG_GRAPH_MB = 5.0
"""Graphs from this size on teach the cost per MB of graph; smaller ones the fixed part."""

_PAGE = os.sysconf("SC_PAGE_SIZE")


class MemoryBudget:
    def __init__(self, directory: Path, limit_mib: float | None, margin_mib: float) -> None:
        """`limit_mib` None: no known limit (nothing is refused). The settings speak MiB, the
        budget MB (1e6 bytes, as service/memory.py)."""
        mib = 1.048576
        self.limit_mb = None if limit_mib is None else max(0.0, (limit_mib - margin_mib) * mib)
        self._pids = directory / "pids"
        self._pids.mkdir(parents=True, exist_ok=True)
        (self._pids / str(os.getpid())).touch()
        self._ratio_file = directory / "measured_cost"

    def used_mb(self) -> float:
        """Resident memory of every live worker of this server."""
        total = 0.0
        for name in os.listdir(self._pids):
            if name == str(os.getpid()):
                total += resident_mb()
                continue
            try:
                pages = int(Path(f"/proc/{name}/statm").read_text().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            total += pages * _PAGE / 1e6
        return total

    def estimate_mb(self, graph_mb: float, workers: int = 1) -> float:
        """What loading a graph of `graph_mb` will cost in `workers` workers."""
        fixed, ratio = self.learned()
        return workers * (fixed + ratio * graph_mb)

    def learned(self) -> tuple[float, float]:
        """(MB beside the graph, MB per MB of graph): measured, else the first guesses."""
        try:
            fixed, ratio = (float(x) for x in self._ratio_file.read_text().split())
        except (OSError, ValueError):
            return FIXED_MB, FIRST_RATIO
        return fixed, ratio

    def record(self, graph_mb: float, cost_mb: float) -> None:
        """Remember a measured load. A graph of a few MB tells what a model costs beside its
        graph; a larger one, the cost per MB of graph. Once measured, each is the largest
        measurement seen (the first guess stands only for what was not measured yet), so the
        estimate errs high but follows the models really served."""
        fixed, ratio = self.learned() if self._ratio_file.exists() else (0.0, 0.0)
        if graph_mb >= BIG_GRAPH_MB:
            fixed = fixed or FIXED_MB
            ratio = max(ratio, max(0.0, cost_mb - fixed) / graph_mb)
        else:
            fixed = max(fixed, cost_mb - ratio * graph_mb)
            ratio = ratio or FIRST_RATIO
        temporary = self._ratio_file.with_suffix(f".{os.getpid()}")
        temporary.write_text(f"{fixed:.1f} {ratio:.3f}")
        os.replace(temporary, self._ratio_file)

    def room_mb(self) -> float | None:
        """MB left under the budget; None when there is no limit."""
        if self.limit_mb is None:
            return None
        return self.limit_mb - self.used_mb()

    def leave(self) -> None:
        (self._pids / str(os.getpid())).unlink(missing_ok=True)


def trim() -> None:
    """Hand freed heap back to the system (glibc keeps it otherwise): an unloaded model's
    memory shows up as free at once, for the next budget check."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
