"""Settings from the environment (ours and SageMaker's names), and the CLI's report of a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.__main__ import main
from service.settings import Settings


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


def test_settings_survive_the_trip_to_a_worker_without_reading_its_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from service.backend.plan import plan_for
    from service.worker_context import WorkerContext

    settings = Settings(model_dir=tmp_path, port=9001, max_batch_size=3, workers=2)
    context = WorkerContext(settings, plan_for(settings), tmp_path / "board", tmp_path / "m")
    monkeypatch.setenv("SERVE_PORT", "1234")  # a worker's environment must not change anything
    monkeypatch.setenv("SERVE_MAX_BATCH_SIZE", "99")
    again = WorkerContext.from_json(context.to_json())
    assert again == context
    assert again.settings.port == 9001 and again.plan.batch.max_batch_size == 3
