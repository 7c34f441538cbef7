"""The step table `pipeline status` and `pipeline run-local` print, from step summaries in the
shape of ListPipelineExecutionSteps' PipelineExecutionStepSummary."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.table import Table

# Metadata keys of a step summary, and what the table shows for each.
DETAIL_KEYS = {
    "ProcessingJob": "Arn",
    "TrainingJob": "Arn",
    "RegisterModel": "Arn",
    "Condition": "Outcome",
    "Fail": "ErrorMessage",
}


def detail(summary: dict[str, Any]) -> str:
    metadata = summary.get("Metadata") or {}
    for key, field in DETAIL_KEYS.items():
        if key in metadata:
            value = str(metadata[key].get(field, ""))
            if key == "Condition":
                return f"condition {value.lower()}"
            if key == "RegisterModel":  # model-package/GROUP/VERSION
                return f"registered {value.split(':model-package/', 1)[-1]}"
            return value.rsplit("/", 1)[-1] if field == "Arn" else value
    return ""


def _time(value: Any) -> str:
    return value.strftime("%H:%M:%S") if isinstance(value, datetime) else "-"


def _took(start: Any, end: Any) -> str:
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        return "-"
    return f"{(end - start).total_seconds():.0f} s"


def step_table(summaries: Iterable[dict[str, Any]], title: str = "") -> Table:
    """Oldest step first (the API lists the newest first)."""
    ordered = sorted(summaries, key=lambda s: s.get("StartTime") or datetime.max)
    table = Table(title=title or None, title_justify="left")
    for column in ("step", "status", "started", "took", "failure reason / detail"):
        table.add_column(column, overflow="fold")
    for summary in ordered:
        status = str(summary.get("StepStatus", ""))
        reason = str(summary.get("FailureReason") or "") or detail(summary)
        table.add_row(
            str(summary.get("StepName", "")),
            status,
            _time(summary.get("StartTime")),
            _took(summary.get("StartTime"), summary.get("EndTime")),
            reason,
        )
    return table
