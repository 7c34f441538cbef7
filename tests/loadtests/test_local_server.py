"""Starting a server for a run: an unservable artifact is one clear line, not a long wait."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtests.local_server import ServerError, free_port, local_server, ping

RunPython = Callable[..., subprocess.CompletedProcess[str]]


def test_refuses_a_directory_without_an_artifact_before_starting_anything(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match=r"manifest.json: missing"), local_server(tmp_path):
        pass


def test_nothing_listening_pings_as_zero() -> None:
    assert ping(f"http://127.0.0.1:{free_port()}", timeout=0.5) == 0


def test_run_command_reports_a_bad_model_dir_in_one_line(
    run_python: RunPython, tmp_path: Path
) -> None:
    completed = run_python(
        "-m", "loadtests", "run", "--model-dir", str(tmp_path / "absent"), timeout=60
    )
    assert completed.returncode == 2
    assert (
        completed.stderr.strip() == f"error: {tmp_path / 'absent'}: model directory does not exist"
    )


def test_headless_http_run_without_a_host_is_an_error_not_a_pass(run_python: RunPython) -> None:
    completed = run_python(
        "-m", "locust", "-f", "loadtests/locustfile.py", "--headless", "-t", "1s", timeout=60
    )
    assert completed.returncode == 2
    assert "error: -H/--host is required" in completed.stderr
