"""Readiness across worker processes: with several workers, `/ping` is 200 only once every one
of them has loaded and warmed its model, so SageMaker sends no request to a worker that would
answer 503 while it loads.

Each ready worker writes a file named after its pid in a directory the parent made (handed to
it in its WorkerContext) and removes it when it stops; files of workers that died without
cleaning up are ignored (their pid is gone). One worker alone needs no board.
"""

from __future__ import annotations

import os
from pathlib import Path


class WorkerBoard:
    def __init__(self, path: Path, workers: int) -> None:
        self.path = path
        self.workers = workers
        self._mine = path / str(os.getpid())
        self._seen_all = False

    def post_ready(self) -> None:
        self._mine.touch()

    def withdraw(self) -> None:
        self._mine.unlink(missing_ok=True)

    def all_ready(self) -> bool:
        """True once every worker has been ready together; a worker restarted later answers
        for itself (its own `/ping` is 503 until it has loaded)."""
        if not self._seen_all:
            try:
                names = os.listdir(self.path)
            except OSError:
                return False
            self._seen_all = sum(_alive(name) for name in names) >= self.workers
        return self._seen_all


def _alive(name: str) -> bool:
    try:
        os.kill(int(name), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
