"""The execution plan: workers, threads and batch limits decided once from settings and host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.backend import probe as probe_module
from service.backend.artifact import Manifest, Precision, VariantInfo
from service.backend.device import CPU, CUDA
from service.backend.plan import ExecutionPlan, decide_plan
from service.backend.probe import HostProbe
from service.settings import Settings

CPU_HOST = HostProbe(usable_cores=8, providers=(CPU,))
GPU_HOST = HostProbe(usable_cores=8, providers=(CUDA, CPU))


def test_batch_limits_differ_by_device_and_settings_override() -> None:
    cpu = decide_plan(Settings(), CPU_HOST, None).batch
    gpu = decide_plan(Settings(device="cuda"), GPU_HOST, _manifest()).batch
    assert cpu.max_batch_tokens < gpu.max_batch_tokens and cpu.max_batch_size < gpu.max_batch_size
    assert not cpu.pad_to_bucket and gpu.pad_to_bucket
    assert (cpu.pipeline_depth, gpu.pipeline_depth) == (1, 2)
    custom = decide_plan(Settings(max_batch_size=3, max_wait_ms=4), CPU_HOST, None).batch
    assert custom.max_batch_size == 3 and custom.max_wait_s == pytest.approx(0.004)
    assert custom.max_queue_wait_s == pytest.approx(0.8 * Settings().request_timeout_s)


def test_workers_default_to_one_per_core_on_cpu_and_one_on_a_gpu() -> None:
    manifest = _manifest()
    assert decide_plan(Settings(), CPU_HOST, manifest).workers == 8
    assert decide_plan(Settings(), GPU_HOST, manifest).workers == 1
    assert decide_plan(Settings(workers=8), CPU_HOST, manifest).intra_op_threads == 1
    assert decide_plan(Settings(workers=2), CPU_HOST, manifest).intra_op_threads == 4
    assert (
        decide_plan(Settings(workers=3, intra_op_threads=5), CPU_HOST, manifest).intra_op_threads
        == 5
    )
    assert decide_plan(Settings(workers=3), GPU_HOST, manifest).workers == 3
    single = decide_plan(Settings(), CPU_HOST, manifest, single_process=True)
    assert (single.workers, single.intra_op_threads) == (1, 8)


def test_cuda_listed_but_unusable_plans_a_cpu_host() -> None:
    host = HostProbe(usable_cores=4, providers=(CPU,), cuda_unusable=True)
    plan = decide_plan(Settings(), host, _manifest())
    assert (plan.device, plan.precision, plan.workers) == ("cpu", "int8", 4)
    assert "fell back" in plan.note


def test_the_plan_is_one_log_line_and_survives_serialisation() -> None:
    plan = decide_plan(Settings(), GPU_HOST, _manifest())
    assert "\n" not in plan.describe() and "fp16" in plan.describe()
    assert ExecutionPlan.from_dict(plan.to_dict()) == plan


def test_a_cgroup_cpu_quota_caps_the_usable_cores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(probe_module, "CGROUP_CPU_MAX", quota)
    quota.write_text("250000 100000\n")  # docker run --cpus 2.5
    assert probe_module.usable_cores() == 3
    quota.write_text("max 100000\n")
    assert probe_module.usable_cores() == 8
    monkeypatch.setattr(probe_module, "CGROUP_CPU_MAX", tmp_path / "absent")
    monkeypatch.setattr(probe_module, "CGROUP_V1_CPU_QUOTA", tmp_path / "cfs_quota_us")
    monkeypatch.setattr(probe_module, "CGROUP_V1_CPU_PERIOD", tmp_path / "cfs_period_us")
    assert probe_module.usable_cores() == 8
    (tmp_path / "cfs_period_us").write_text("100000\n")
    (tmp_path / "cfs_quota_us").write_text("100000\n")  # cgroup v1: docker run --cpus 1
    assert probe_module.usable_cores() == 1
    (tmp_path / "cfs_quota_us").write_text("-1\n")  # v1: no quota
    assert probe_module.usable_cores() == 8


def _manifest() -> Manifest:
    precisions: tuple[Precision, ...] = ("fp32", "int8", "fp16")
    variants = {p: VariantInfo(file=f"model.{p}.onnx", precision=p) for p in precisions}
    return Manifest(
        model_version="t",
        labels=["a", "b"],
        max_length=16,
        variants=variants,
        device_variant={"cpu": "int8", "cuda": "fp16"},
    )


def test_memory_caps_automatic_workers_as_on_a_serverless_endpoint() -> None:
    """A 1 GB serverless endpoint with 6 vCPUs fits fewer workers than it has cores; the
    container's limit (or SERVE_MEMORY_MB) decides, and explicit workers are honoured."""
    from service.backend.plan import workers_for_memory

    small = HostProbe(usable_cores=6, providers=(CPU,), memory_mb=1024)
    plan = decide_plan(Settings(), small, _manifest(), model_mb=23.0)
    # (1024 x 0.8 - 75) // (115 + 1.7 x 23): 4 of the 6 cores
    assert plan.workers == workers_for_memory(1024, 23.0) == 4
    assert "fit in 1024 MB" in plan.note and plan.intra_op_threads == 1  # 6 cores // 4
    roomy = HostProbe(usable_cores=6, providers=(CPU,), memory_mb=6144)
    assert decide_plan(Settings(), roomy, _manifest(), model_mb=23.0).workers == 6
    assert decide_plan(Settings(workers=5), small, _manifest(), model_mb=23.0).workers == 5
    assert workers_for_memory(256, 500.0) == 1  # never zero


def test_memory_comes_from_the_cgroup_or_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    limit = tmp_path / "memory.max"
    monkeypatch.setattr(probe_module, "CGROUP_MEMORY_MAX", limit)
    monkeypatch.setattr(probe_module, "CGROUP_V1_MEMORY_LIMIT", tmp_path / "absent")
    limit.write_text(f"{2048 * 1024 * 1024}\n")
    assert probe_module.memory_limit_mb() == 2048
    limit.write_text("max\n")
    assert probe_module.memory_limit_mb() is None
    assert probe_module.probe_host(None, try_cuda=False, memory_mb=3072).memory_mb == 3072
    monkeypatch.setenv("SERVE_MEMORY_MB", "4096")
    assert Settings().memory_mb == 4096
