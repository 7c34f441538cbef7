"""How `deploy` ships an update and watches it: strategy, baking, alarms, metrics (a flag group,
see `flag_groups`), checked before any AWS call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from deploy import config
from deploy.alarms import AlarmLimits
from deploy.errors import ConfigError
from deploy.observability import FREQUENCIES
from deploy.rollout import MAX_WAIT_S, STRATEGIES, Rollout

DEFAULT_CANARY_PERCENT, DEFAULT_BAKE = 10, "10m"
DEFAULT_LINEAR_STEP, DEFAULT_STEP_WAIT = 20, "5m"


@dataclass(frozen=True)
class RolloutFlags:
    strategy: Annotated[
        str, typer.Option(help="How an update shifts traffic: all-at-once, canary or linear.")
    ] = "all-at-once"
    canary_percent: Annotated[
        int | None, typer.Option(help="Canary: share of the new fleet first (1-50, default 10).")
    ] = None
    bake: Annotated[
        str | None, typer.Option(help="Canary: baking before the rest shifts (default 10m).")
    ] = None
    linear_step: Annotated[
        int | None, typer.Option(help="Linear: share shifted per step (10-50, default 20).")
    ] = None
    step_wait: Annotated[
        str | None, typer.Option(help="Linear: baking after each step (default 5m).")
    ] = None
    final_bake: Annotated[
        str, typer.Option(help="Baking with all traffic on the new fleet, old fleet kept.")
    ] = "2m"
    slo_p99_ms: Annotated[
        float, typer.Option(help="Made alarm: ModelLatency p99 above this rolls back.")
    ] = 500.0
    max_5xx_percent: Annotated[
        float, typer.Option(help="Made alarm: 5xx share of invocations above this rolls back.")
    ] = 1.0
    metrics_frequency: Annotated[
        int,
        typer.Option(
            help="Detailed observability: seconds between metric publications "
            "(10, 30, 60, 120, 180, 240, 300; 0 = off)."
        ),
    ] = 60
    dashboard: Annotated[bool, typer.Option(help="Create the endpoint's CloudWatch dashboard.")] = (
        True
    )

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}")
        misplaced = [
            flag
            for flag, value, strategy in (
                ("--canary-percent", self.canary_percent, "canary"),
                ("--bake", self.bake, "canary"),
                ("--linear-step", self.linear_step, "linear"),
                ("--step-wait", self.step_wait, "linear"),
            )
            if value is not None and strategy != self.strategy
        ]
        if misplaced:
            raise ConfigError(f"{misplaced[0]} does not apply to --strategy {self.strategy}")
        if self.canary_percent is not None and not 1 <= self.canary_percent <= 50:
            raise ConfigError("--canary-percent must be 1-50: SageMaker allows at most half")
        if self.linear_step is not None and not 10 <= self.linear_step <= 50:
            raise ConfigError("--linear-step must be 10-50 (% of the fleet per step)")
        if self.slo_p99_ms <= 0 or not 0 < self.max_5xx_percent <= 100:
            raise ConfigError("--slo-p99-ms must be positive and --max-5xx-percent in (0, 100]")
        if self.metrics_frequency and self.metrics_frequency not in FREQUENCIES:
            raise ConfigError(
                f"--metrics-frequency must be one of {', '.join(map(str, FREQUENCIES))}, or 0"
            )
        self.rollout()  # the durations

    def rollout(self) -> Rollout:
        final = config.duration_s(self.final_bake, "--final-bake", MAX_WAIT_S)
        if self.strategy == "canary":
            return Rollout(
                "canary",
                self.canary_percent or DEFAULT_CANARY_PERCENT,
                config.duration_s(self.bake or DEFAULT_BAKE, "--bake", MAX_WAIT_S),
                final,
            )
        if self.strategy == "linear":
            return Rollout(
                "linear",
                self.linear_step or DEFAULT_LINEAR_STEP,
                config.duration_s(self.step_wait or DEFAULT_STEP_WAIT, "--step-wait", MAX_WAIT_S),
                final,
            )
        return Rollout("all-at-once", 100, 0, final)

    def limits(self) -> AlarmLimits:
        return AlarmLimits(max_5xx_percent=self.max_5xx_percent, slo_p99_ms=self.slo_p99_ms)
