"""The SLO gate's verdicts."""

from __future__ import annotations

from loadtests.slo import Observed, SloTargets, violations

GOOD = Observed(requests=1000, failures=2, p95_ms=80, p99_ms=120, rps=50)


def test_no_targets_means_no_gate() -> None:
    assert not SloTargets().active
    assert violations(Observed(0, 0, 0, 0, 0), SloTargets()) == []


def test_every_target_met_passes() -> None:
    assert (
        violations(GOOD, SloTargets(p95_ms=100, p99_ms=150, max_fail_ratio=0.01, min_rps=40)) == []
    )


def test_each_breach_is_named() -> None:
    found = violations(GOOD, SloTargets(p95_ms=50, p99_ms=100, max_fail_ratio=0.001, min_rps=60))
    assert found == [
        "p95 80 ms > 50 ms",
        "p99 120 ms > 100 ms",
        "failure ratio 0.20% > 0.10% (2 of 1000)",
        "throughput 50.0 req/s < 60 req/s",
    ]


def test_a_run_without_requests_fails_any_gate() -> None:
    assert violations(Observed(0, 0, 0, 0, 0), SloTargets(max_fail_ratio=0.5)) == [
        "no request completed"
    ]
