"""The capacity search against a modelled server: rising latency, then a throughput ceiling."""

from __future__ import annotations

import pytest

from loadtests.capacity import CapacitySlo, StepResult, search, step_violations


def modelled_server(ceiling: float, base_ms: float = 10.0):  # type: ignore[no-untyped-def]
    """Latency grows as load nears the ceiling; above it the server falls behind."""
    measured: list[float] = []

    def measure(rate: float) -> StepResult:
        measured.append(rate)
        achieved = min(rate, ceiling)
        utilisation = min(rate / ceiling, 0.999)
        p99 = base_ms / (1 - utilisation)
        return StepResult(
            rate, int(rate), 10.0, int(achieved * 10), 0, achieved, achieved, p99 / 3, p99 / 2, p99
        )

    return measure, measured


def test_finds_the_highest_rate_within_the_slo() -> None:
    # p99 = 10 / (1 - r/200) <= 100 ms  <=>  r <= 180 req/s
    measure, measured = modelled_server(ceiling=200)
    result = search(measure, CapacitySlo(p99_ms=100), start_rps=10, growth=2, refine_steps=4)
    assert measured[:5] == [10, 20, 40, 80, 160]  # grows geometrically until 320 fails
    assert result.capacity_rps is not None and 160 <= result.capacity_rps <= 180
    assert all(not step_violations(s, result.slo) for s in result.steps if s.offered_rps < 179)
    assert "breaks at" in result.stopped_because


def test_a_failing_first_step_searches_downwards() -> None:
    # p99 = 10 / (1 - r/5) <= 20 ms  <=>  r <= 2.5 req/s; start at 10, shrink by 1.5.
    measure, measured = modelled_server(ceiling=5)
    result = search(measure, CapacitySlo(p99_ms=20), start_rps=10, refine_steps=4)
    assert [round(r, 2) for r in measured[:4]] == [10, 6.67, 4.44, 2.96]
    assert result.capacity_rps is not None and 1.97 < result.capacity_rps <= 2.5


def test_no_capacity_when_even_the_floor_fails() -> None:
    measure, measured = modelled_server(ceiling=0.5)
    result = search(measure, CapacitySlo(p99_ms=20), start_rps=4, growth=2, min_rps=1)
    assert measured == [4, 2, 1] and result.capacity_rps is None
    assert "even 1.0 req/s breaks the SLO" in result.stopped_because


def test_stops_at_max_rps_when_the_slo_always_holds() -> None:
    measure, measured = modelled_server(ceiling=1e9)
    result = search(measure, CapacitySlo(p99_ms=100), start_rps=10, growth=3, max_rps=50)
    assert measured == [10, 30, 50] and result.capacity_rps == 50


def test_falling_behind_or_failing_breaks_the_slo() -> None:
    behind = StepResult(100, 20, 10, 800, 0, 80, 80, 5, 8, 9)
    failing = StepResult(100, 20, 10, 1000, 1, 100, 100, 5, 8, 9)
    assert step_violations(behind, CapacitySlo()) == ["achieved 80.0 of 100.0 req/s offered"]
    assert step_violations(failing, CapacitySlo()) == ["1 failed of 1000"]
    with pytest.raises(ValueError, match="growth"):
        search(lambda r: behind, CapacitySlo(), growth=1.0)
    with pytest.raises(ValueError, match="min_rps"):
        search(lambda r: behind, CapacitySlo(), start_rps=1, min_rps=2)
