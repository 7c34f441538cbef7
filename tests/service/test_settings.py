"""Settings from the environment (ours and SageMaker's names) and per-device batch defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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
