"""Constant, step and spike schedules, and their options."""

from __future__ import annotations

import argparse

import pytest

from loadtests.options import add_arguments, shape_plan
from loadtests.shapes import ShapeError, ShapePlan, parse_seconds, users_at


def test_durations_read_like_locusts_run_time() -> None:
    assert (
        parse_seconds("90") == 90 and parse_seconds("1m30s") == 90 and parse_seconds("2h") == 7200
    )
    assert parse_seconds(None) is None and parse_seconds(5) == 5.0
    with pytest.raises(ShapeError, match="not a duration"):
        parse_seconds("soon")


def test_constant_holds_until_run_time() -> None:
    plan = ShapePlan("constant", users=4, spawn_rate=2, run_time=10)
    assert users_at(plan, 0) == (4, 2) and users_at(plan, 9.9) == (4, 2)
    assert users_at(plan, 10) is None
    assert users_at(ShapePlan("constant", users=3), 1e6) == (3, 1.0)  # no run time: forever


def test_step_ramps_in_equal_steps_to_the_peak_then_stops() -> None:
    plan = ShapePlan("step", users=10, spawn_rate=5, steps=4, step_duration=5)
    assert [users_at(plan, t) for t in (0, 5, 10, 19.9)] == [(3, 5), (5, 5), (8, 5), (10, 5)]
    assert plan.duration == 20 and users_at(plan, 20) is None


def test_spike_jumps_at_once_then_returns_to_base() -> None:
    plan = ShapePlan("spike", users=2, spike_users=20, spike_at=5, spike_duration=3)
    assert users_at(plan, 4.9) == (2, 20.0)
    assert users_at(plan, 5) == (20, 20.0) and users_at(plan, 7.9) == (20, 20.0)
    assert users_at(plan, 8) == (2, 20.0)
    assert plan.duration == 13 and users_at(plan, 13) is None


def test_inconsistent_plans_are_refused() -> None:
    with pytest.raises(ShapeError, match="--shape"):
        ShapePlan("wave")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="--spike-users must exceed"):
        ShapePlan("spike", users=5, spike_users=5)
    with pytest.raises(ShapeError, match="--steps"):
        ShapePlan("step", steps=0)


def test_plan_from_command_line_options() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = parser.parse_args(["--shape", "step", "--steps", "3", "--step-duration", "1m"])
    options.num_users, options.spawn_rate, options.run_time = 9, 3.0, None
    plan = shape_plan(options)
    assert (plan.kind, plan.users, plan.steps, plan.step_duration) == ("step", 9, 3, 60.0)
