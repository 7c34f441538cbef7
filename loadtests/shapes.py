"""Load shapes as plain functions of elapsed time: constant, step ramp, spike.

`users_at(plan, t)` returns (users, spawn rate) at `t` seconds into the run, or None when the
run is over. The Locust shape class in `plugin` only calls this, so the schedules are tested
without starting Locust.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, get_args

ShapeKind = Literal["constant", "step", "spike"]
SHAPE_KINDS: tuple[ShapeKind, ...] = get_args(ShapeKind)

_TIMESPAN = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


class ShapeError(ValueError):
    """A shape option is missing or inconsistent; the message names it."""


def parse_seconds(value: str | float | int | None) -> float | None:
    """ "90", "90s", "1m30s", "2h" -> seconds (Locust's --run-time spelling); None stays None."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    match = _TIMESPAN.match(value.strip().lower())
    if not value.strip() or not match:
        raise ShapeError(f"{value!r} is not a duration such as 30s, 2m or 1m30s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class ShapePlan:
    """Every shape's parameters; `users` is the constant level, the step peak or the spike base."""

    kind: ShapeKind = "constant"
    users: int = 1
    spawn_rate: float = 1.0
    run_time: float | None = None
    steps: int = 5
    step_duration: float = 10.0
    spike_users: int = 0
    spike_at: float = 10.0
    spike_duration: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in SHAPE_KINDS:
            raise ShapeError(f"--shape must be one of {', '.join(SHAPE_KINDS)} (got {self.kind!r})")
        if self.users < 1 or self.spawn_rate <= 0:
            raise ShapeError("--users must be at least 1 and --spawn-rate positive")
        if self.kind == "step" and (self.steps < 1 or self.step_duration <= 0):
            raise ShapeError("--steps must be at least 1 and --step-duration positive")
        if self.kind == "spike" and (self.spike_users <= self.users or self.spike_duration <= 0):
            raise ShapeError("--spike-users must exceed --users and --spike-duration be positive")

    @property
    def duration(self) -> float | None:
        """Total run time in seconds; None for a constant run without --run-time."""
        if self.kind == "step":
            return self.run_time or self.steps * self.step_duration
        if self.kind == "spike":
            return self.run_time or 2 * self.spike_at + self.spike_duration
        return self.run_time


def users_at(plan: ShapePlan, elapsed: float) -> tuple[int, float] | None:
    duration = plan.duration
    if duration is not None and elapsed >= duration:
        return None
    if plan.kind == "step":
        level = min(int(elapsed // plan.step_duration) + 1, plan.steps)
        return math.ceil(plan.users * level / plan.steps), plan.spawn_rate
    if plan.kind == "spike" and plan.spike_at <= elapsed < plan.spike_at + plan.spike_duration:
        # A spike arrives at once: spawn every extra user within about a second.
        return plan.spike_users, max(plan.spawn_rate, float(plan.spike_users))
    if plan.kind == "spike":
        return plan.users, max(plan.spawn_rate, float(plan.spike_users))
    return plan.users, plan.spawn_rate
