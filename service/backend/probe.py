"""What this host offers the model: usable cores, ONNX Runtime's providers, and whether CUDA,
when listed, really works (onnxruntime-gpu lists it on hosts without a usable GPU or CUDA
libraries, then silently runs on CPU)."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from service.backend.device import CUDA

log = logging.getLogger(__name__)

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


@dataclass(frozen=True, slots=True)
class HostProbe:
    usable_cores: int
    providers: tuple[str, ...]
    """ONNX Runtime's execution providers, CUDA removed when it is listed but does not work."""
    cuda_unusable: bool = False
    """CUDA was listed but a session could not run on it."""


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota
    (`docker run --cpus`, Compose `cpus:`), which os.cpu_count() ignores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def probe_host(model_file: Path | None, try_cuda: bool) -> HostProbe:
    """Cores and providers; with `try_cuda` and CUDA listed, open `model_file` on it to see
    whether it really runs there (once, in the parent, before any worker starts)."""
    import onnxruntime

    providers = tuple(onnxruntime.get_available_providers())
    cores = usable_cores()
    if not try_cuda or CUDA not in providers:
        return HostProbe(cores, providers)
    if model_file is not None and _cuda_runs(model_file):
        return HostProbe(cores, providers)
    log.warning(
        "onnxruntime lists CUDAExecutionProvider but it cannot run here "
        "(no usable GPU or CUDA libraries): planning for CPU"
    )
    return HostProbe(cores, tuple(p for p in providers if p != CUDA), cuda_unusable=True)


def _cuda_runs(model_file: Path) -> bool:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            str(model_file), sess_options=options, providers=[CUDA, "CPUExecutionProvider"]
        )
    except Exception:  # onnxruntime raises several unrelated types; any means "not usable"
        return False
    return bool(session.get_providers()[0] == CUDA)
