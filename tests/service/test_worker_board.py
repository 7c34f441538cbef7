"""Readiness across worker processes: /ping waits for every worker, dead ones do not count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.worker_board import BOARD_DIR, WorkerBoard


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_ready_only_when_every_worker_has_posted_and_dead_ones_do_not_count(
    tmp_path: Path,
) -> None:
    board = WorkerBoard(tmp_path, workers=2)
    assert not board.all_ready()
    board.post_ready()
    (tmp_path / str(_dead_pid())).touch()  # a worker that died without withdrawing
    (tmp_path / "not-a-pid").touch()
    assert not board.all_ready()
    (tmp_path / str(os.getppid())).touch()  # a live second worker
    assert board.all_ready()
    board.withdraw()
    assert not (tmp_path / str(os.getpid())).exists()


def test_no_board_for_one_worker_or_without_the_parent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(BOARD_DIR, raising=False)
    assert WorkerBoard.from_env(4) is None
    monkeypatch.setenv(BOARD_DIR, str(tmp_path))
    assert WorkerBoard.from_env(1) is None
    assert WorkerBoard.from_env(4) is not None
