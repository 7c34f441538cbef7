"""Resident memory of this process, and where a worker's went while it loaded the model.

The backend (service/backend/session.py) reads `resident_mb` around each step of loading:
Python and its libraries before the first session, the ONNX Runtime sessions, the tokenizers,
and the buffers the warm-up left (the sessions' working memory). `serve_memory_bytes{part}`
exports them per worker and `make bench-serve` prints them beside what each process holds under
load. Linux only (/proc); elsewhere every figure is 0.
"""

from __future__ import annotations

import os
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM = Path("/proc/self/statm")

PARTS = ("python", "sessions", "tokenizer", "warm_up")
"""The parts of a worker's memory, in loading order."""


def resident_mb() -> float:
    """This process's resident set in MB (1e6 bytes), 0 when /proc is not there."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0
