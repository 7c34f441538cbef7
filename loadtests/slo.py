"""The SLO gate: observed figures against targets, one readable line per violation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SloTargets:
    """Targets for a whole run; None means not checked."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    max_fail_ratio: float | None = None
    min_rps: float | None = None

    @property
    def active(self) -> bool:
        return any(
            v is not None for v in (self.p95_ms, self.p99_ms, self.max_fail_ratio, self.min_rps)
        )


@dataclass(frozen=True)
class Observed:
    requests: int
    failures: int
    p95_ms: float
    p99_ms: float
    rps: float

    @property
    def fail_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def violations(observed: Observed, targets: SloTargets) -> list[str]:
    """Empty when every active target is met."""
    if not targets.active:
        return []
    if observed.requests == 0:
        return ["no request completed"]
    found = []
    if targets.p95_ms is not None and observed.p95_ms > targets.p95_ms:
        found.append(f"p95 {observed.p95_ms:.0f} ms > {targets.p95_ms:g} ms")
    if targets.p99_ms is not None and observed.p99_ms > targets.p99_ms:
        found.append(f"p99 {observed.p99_ms:.0f} ms > {targets.p99_ms:g} ms")
    if targets.max_fail_ratio is not None and observed.fail_ratio > targets.max_fail_ratio:
        found.append(
            f"failure ratio {observed.fail_ratio:.2%} > {targets.max_fail_ratio:.2%}"
            f" ({observed.failures} of {observed.requests})"
        )
    if targets.min_rps is not None and observed.rps < targets.min_rps:
        found.append(f"throughput {observed.rps:.1f} req/s < {targets.min_rps:g} req/s")
    return found
