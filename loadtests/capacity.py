"""Capacity search: the highest request rate one server sustains within an SLO.

Load is offered at a fixed rate per step (open-loop-like: enough users, each paced to a share
of the rate), grown geometrically until a step breaks the SLO (or, when the first step already
does, shrunk until one holds), then bisected between the last good and first bad rate. A step passes when its p99 and failure ratio meet the SLO and the
server actually kept up (achieved >= `min_achieved_fraction` of offered). The search logic is
here and pure; `capacity_runner` measures steps with Locust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepResult:
    offered_rps: float
    users: int
    duration_s: float
    requests: int
    failures: int
    achieved_rps: float
    texts_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    queue_p50_ms: float | None = None
    inference_p50_ms: float | None = None


@dataclass(frozen=True)
class CapacitySlo:
    p99_ms: float = 100.0
    max_fail_ratio: float = 0.0
    min_achieved_fraction: float = 0.95


def step_violations(step: StepResult, slo: CapacitySlo) -> list[str]:
    """Why a step fails the SLO (empty when it passes)."""
    if step.requests == 0:
        return ["no request completed"]
    found = []
    if step.p99_ms > slo.p99_ms:
        found.append(f"p99 {step.p99_ms:.0f} ms > {slo.p99_ms:g} ms")
    if step.failures / step.requests > slo.max_fail_ratio:
        found.append(f"{step.failures} failed of {step.requests}")
    if step.achieved_rps < slo.min_achieved_fraction * step.offered_rps:
        found.append(f"achieved {step.achieved_rps:.1f} of {step.offered_rps:.1f} req/s offered")
    return found


@dataclass
class CapacityResult:
    slo: CapacitySlo
    steps: list[StepResult] = field(default_factory=list)
    best: StepResult | None = None
    stopped_because: str = ""
    notes: list[str] = field(default_factory=list)  # conditions of the measurement, for the report

    @property
    def capacity_rps(self) -> float | None:
        """Achieved throughput of the best passing step; None when even the first step failed."""
        return self.best.achieved_rps if self.best else None


def search(
    measure: Callable[[float], StepResult],
    slo: CapacitySlo,
    start_rps: float = 10.0,
    growth: float = 1.5,
    max_rps: float = 5000.0,
    refine_steps: int = 3,
    tolerance: float = 0.05,
    min_rps: float = 1.0,
    on_step: Callable[[StepResult, list[str]], None] | None = None,
) -> CapacityResult:
    """Grow the offered rate by `growth` until a step fails (or shrink it from `start_rps` until
    one passes), then bisect between the two (at most `refine_steps` more steps)."""
    if not 0 < min_rps <= start_rps <= max_rps or growth <= 1:
        raise ValueError("need 0 < min_rps <= start_rps <= max_rps and growth > 1")
    result = CapacityResult(slo=slo)

    def passes(rate: float) -> bool:
        step = measure(rate)
        reasons = step_violations(step, slo)
        result.steps.append(step)
        if on_step:
            on_step(step, reasons)
        if not reasons and (result.best is None or step.achieved_rps > result.best.achieved_rps):
            result.best = step
        return not reasons

    good: float | None = None
    bad: float | None = None
    if passes(start_rps):
        good = start_rps
        while bad is None and good < max_rps:
            rate = min(good * growth, max_rps)
            if passes(rate):
                good = rate
            else:
                bad = rate
        if bad is None:
            result.stopped_because = f"reached --max-rps {max_rps:g} within the SLO"
            return result
    else:
        bad = start_rps
        while good is None and bad / growth >= min_rps:
            rate = bad / growth
            if passes(rate):
                good = rate
            else:
                bad = rate
        if good is None:
            result.stopped_because = f"even {bad:.1f} req/s breaks the SLO (--min-rps {min_rps:g})"
            return result
    for _ in range(refine_steps):
        if bad / good <= 1 + tolerance:
            break
        middle = (good + bad) / 2
        if passes(middle):
            good = middle
        else:
            bad = middle
    result.stopped_because = f"SLO holds at {good:.1f} req/s offered, breaks at {bad:.1f}"
    return result
