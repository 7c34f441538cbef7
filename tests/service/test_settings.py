"""Settings from the environment (ours and SageMaker's names) and per-device batch defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service import settings as settings_module
from service.__main__ import main
from service.settings import BatchShape, Settings


def test_sagemaker_names_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9123")
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "3")
    monkeypatch.setenv("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1.5")
    settings = Settings()
    assert (settings.port, settings.workers) == (9123, 3)
    assert settings.max_payload_bytes == 1536 * 1024
    assert settings.model_dir == Path("/opt/ml/model")


def test_our_prefix_wins_over_nothing_and_arguments_win_over_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVE_MAX_BATCH_TOKENS", "777")
    monkeypatch.setenv("SERVE_PORT", "9000")
    settings = Settings(port=9001)
    assert settings.max_batch_tokens == 777 and settings.port == 9001


def test_invalid_values_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVE_DEVICE", "tpu")
    with pytest.raises(ValidationError):
        Settings()


def test_cli_reports_a_bad_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVE_LOG_LEVEL", "chatty")
    with pytest.raises(SystemExit) as exit_:
        main(["serve"])
    assert str(exit_.value).startswith("serve: invalid setting") and "\n" not in str(exit_.value)


def test_batch_shape_defaults_differ_by_device_and_settings_override() -> None:
    cpu, gpu = BatchShape(Settings(), "cpu"), BatchShape(Settings(), "cuda")
    assert cpu.max_batch_tokens < gpu.max_batch_tokens and cpu.max_batch_size < gpu.max_batch_size
    assert not cpu.pad_to_bucket and gpu.pad_to_bucket
    custom = BatchShape(Settings(max_batch_size=3, max_wait_ms=4), "cpu")
    assert custom.max_batch_size == 3 and custom.max_wait_s == pytest.approx(0.004)


def test_workers_default_to_one_per_core_on_cpu_and_one_on_a_gpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(settings_module.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(settings_module, "CGROUP_CPU_MAX", tmp_path / "absent")
    auto = Settings()
    assert auto.resolved_workers(cuda=False) == 8 and auto.resolved_workers(cuda=True) == 1
    assert Settings(workers=8).resolved_intra_op_threads() == 1
    assert Settings(workers=2).resolved_intra_op_threads() == 4
    assert Settings(workers=3, intra_op_threads=5).resolved_intra_op_threads() == 5
    assert Settings(workers=3).resolved_workers(cuda=True) == 3


def test_a_cgroup_cpu_quota_caps_the_usable_cores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(settings_module.os, "sched_getaffinity", lambda pid: set(range(8)))
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(settings_module, "CGROUP_CPU_MAX", quota)
    quota.write_text("250000 100000\n")  # docker run --cpus 2.5
    assert settings_module.usable_cores() == 3
    quota.write_text("max 100000\n")
    assert settings_module.usable_cores() == 8
