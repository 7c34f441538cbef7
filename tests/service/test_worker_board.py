"""Readiness across worker processes: /ping waits for every worker, dead ones do not count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service.worker_board import WorkerBoard


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


def test_no_board_for_one_worker_or_without_the_parent(tmp_path: Path) -> None:
    from service.backend.plan import plan_for
    from service.settings import Settings
    from service.worker_context import WorkerContext

    one = plan_for(Settings(model_dir=tmp_path, workers=1))
    four = plan_for(Settings(model_dir=tmp_path, workers=4))
    assert WorkerContext(Settings(), four).board() is None  # no directory from a parent
    assert WorkerContext(Settings(), one, board_dir=tmp_path).board() is None
    board = WorkerContext(Settings(), four, board_dir=tmp_path).board()
    assert board is not None and board.workers == 4
