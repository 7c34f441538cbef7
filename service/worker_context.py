"""What a worker process is handed: the resolved settings, the execution plan, and the shared
directories for readiness and metrics. Serialised once by the parent, passed explicitly to
each worker (uvicorn pickles the app factory's arguments into the spawned process), never
through the user's environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.backend.plan import ExecutionPlan
from service.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from service.busy_signal import BusySignal
    from service.worker_board import WorkerBoard


@dataclass(frozen=True, slots=True)
class WorkerContext:
    settings: Settings
    plan: ExecutionPlan
    board_dir: Path | None = None
    """Readiness board shared by the workers (service/worker_board.py); None for one worker."""
    metrics_dir: Path | None = None
    """prometheus_client's multiprocess directory; None for one worker."""
    busy_file: Path | None = None
    """Which workers run a batch right now (service/busy_signal.py); None when the plan has
    no lone-request session."""

    def board(self) -> WorkerBoard | None:
        from service.worker_board import WorkerBoard

        if self.board_dir is None or self.plan.workers <= 1:
            return None
        return WorkerBoard(self.board_dir, self.plan.workers)

    def busy_signal(self) -> BusySignal | None:
        from service.busy_signal import BusySignal

        if self.busy_file is None:
            return None
        return BusySignal(self.busy_file, 2 * self.plan.workers).claim()

    def to_json(self) -> str:
        return json.dumps(
            {
                "settings": self.settings.model_dump(mode="json"),
                "plan": self.plan.to_dict(),
                "board_dir": str(self.board_dir) if self.board_dir else None,
                "metrics_dir": str(self.metrics_dir) if self.metrics_dir else None,
                "busy_file": str(self.busy_file) if self.busy_file else None,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> WorkerContext:
        data: dict[str, Any] = json.loads(text)
        return cls(
            # model_validate takes the parent's values and does not read the environment.
            settings=Settings.model_validate(data["settings"]),
            plan=ExecutionPlan.from_dict(data["plan"]),
            board_dir=Path(data["board_dir"]) if data["board_dir"] else None,
            metrics_dir=Path(data["metrics_dir"]) if data["metrics_dir"] else None,
            busy_file=Path(data["busy_file"]) if data.get("busy_file") else None,
        )


def worker_app(context_json: str) -> FastAPI:
    """uvicorn's app factory in each worker process: the app built from the parent's context.

    prometheus_client reads its multiprocess directory only from PROMETHEUS_MULTIPROC_DIR, and
    before its first metric exists: this is the one place a worker's context goes into the
    environment, before anything imports the metrics module.
    """
    context = WorkerContext.from_json(context_json)
    if context.metrics_dir is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(context.metrics_dir)
    from service.api.app import create_app
    from service.logs import configure

    settings = context.settings
    configure(settings.log_level, settings.log_format, settings.access_log)
    return create_app(settings, context=context)
