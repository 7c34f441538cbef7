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
CGROUP_V1_CPU_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_CPU_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
CGROUP_V1_MEMORY_LIMIT = Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")
UNLIMITED_V1 = 1 << 60  # cgroup v1 reports "no limit" as a number near 2**63


@dataclass(frozen=True, slots=True)
class HostProbe:
    usable_cores: int
    providers: tuple[str, ...]
    """ONNX Runtime's execution providers, CUDA removed when it is listed but does not work."""
    cuda_unusable: bool = False
    """CUDA was listed but a session could not run on it."""
    memory_mb: int | None = None
    """Memory this container may use (its cgroup limit, or what the settings say); None when
    unbounded. A serverless endpoint's is the MemorySizeInMB it was created with."""


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota
    (`docker run --cpus`, Compose `cpus:`; v2 or v1), which os.cpu_count() ignores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    quota = _cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return cores


def _cpu_quota() -> float | None:
    """CPUs the cgroup may use (v2 `cpu.max`, else v1 `cfs_quota_us / cfs_period_us`)."""
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        v1_quota = int(CGROUP_V1_CPU_QUOTA.read_text())
        v1_period = int(CGROUP_V1_CPU_PERIOD.read_text())
    except (OSError, ValueError):
        return None
    return None if v1_quota <= 0 or v1_period <= 0 else v1_quota / v1_period


def memory_limit_mb() -> int | None:
    """The cgroup memory limit in MiB (`docker run --memory`, a serverless endpoint's memory
    size), or None when there is none."""
    for path in (CGROUP_MEMORY_MAX, CGROUP_V1_MEMORY_LIMIT):
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < UNLIMITED_V1:
            return int(raw) // (1024 * 1024)
        return None
    return None


def probe_host(model_file: Path | None, try_cuda: bool, memory_mb: int | None = None) -> HostProbe:
    """Cores, memory and providers; with `try_cuda` and CUDA listed, open `model_file` on it to
    see whether it really runs there (once, in the parent, before any worker starts).
    `memory_mb`, when given (SERVE_MEMORY_MB), wins over the cgroup's limit."""
    import onnxruntime

    providers = tuple(onnxruntime.get_available_providers())
    cores = usable_cores()
    memory = memory_mb or memory_limit_mb()
    if not try_cuda or CUDA not in providers:
        return HostProbe(cores, providers, memory_mb=memory)
    if model_file is not None and _cuda_runs(model_file):
        return HostProbe(cores, providers, memory_mb=memory)
    log.warning(
        "onnxruntime lists CUDAExecutionProvider but it cannot run here "
        "(no usable GPU or CUDA libraries): planning for CPU"
    )
    cpu_only = tuple(p for p in providers if p != CUDA)
    return HostProbe(cores, cpu_only, cuda_unusable=True, memory_mb=memory)


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


def single_text_ms(
    model_file: Path, input_names: list[str], threads: int, spin: bool, length: int = 32
) -> float:
    """Median milliseconds of one text of `length` tokens through `model_file` with `threads`
    intra-op threads: what a lone request costs on this host."""
    import time

    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    session = onnxruntime.InferenceSession(
        str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
    )
    ids = np.full((1, length), 100, dtype=np.int64)
    arrays = {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "token_type_ids": np.zeros_like(ids),
    }
    feeds = {name: arrays[name] for name in input_names}
    for _ in range(3):
        session.run(None, feeds)
    times = []
    for _ in range(15):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))
