"""How an update moves traffic from the old fleet (blue) to the new one (green).

SageMaker's deployment guardrails: all at once, a canary then the rest, or linear steps, each
step followed by a baking period in which a CloudWatch alarm in ALARM rolls the update back.
`Rollout.check` applies SageMaker's own rules before any call, so a bad combination costs one
line instead of a half-made update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from deploy.errors import ConfigError

STRATEGIES = ("all-at-once", "canary", "linear")
MAX_WAIT_S = 3600  # WaitIntervalInSeconds and TerminationWaitInSeconds
MIN_EXECUTION_S, MAX_EXECUTION_S = 600, 28800  # MaximumExecutionTimeoutInSeconds


@dataclass(frozen=True)
class Rollout:
    strategy: str = "all-at-once"
    step_percent: int = 100  # the canary, or each linear step, as a share of the fleet
    wait_s: int = 0  # baking after the canary or after each linear step
    final_bake_s: int = 120  # TerminationWaitInSeconds: all traffic on green, blue still up

    @property
    def steps(self) -> int:
        """Traffic shifts: 1 all at once, 2 for a canary, ceil(100/step) when linear."""
        if self.strategy == "all-at-once":
            return 1
        if self.strategy == "canary":
            return 2
        return math.ceil(100 / self.step_percent)

    @property
    def baking_s(self) -> int:
        """The least time an update takes once green is up: every wait plus the final bake."""
        return (self.steps - 1) * self.wait_s + self.final_bake_s

    def check(self, instance_count: int, timeout_s: float) -> Rollout:
        """SageMaker's rules for this fleet, and room in `--timeout` for the baking."""
        if self.strategy == "all-at-once":  # its final bake predates the check: not refused
            return self
        step_instances = math.ceil(instance_count * self.step_percent / 100)
        if instance_count < 2 or step_instances > instance_count / 2:
            what = "a canary" if self.strategy == "canary" else "a linear step"
            raise ConfigError(
                f"--strategy {self.strategy}: {what} of {self.step_percent}% of "
                f"{instance_count} instance(s) is {step_instances}; SageMaker allows at most "
                "half the fleet: raise --instance-count or lower the step"
            )
        if self.baking_s >= timeout_s:
            raise ConfigError(
                f"--strategy {self.strategy} bakes for at least {self.baking_s} s but --timeout "
                f"is {timeout_s:g} s; raise --timeout"
            )
        return self

    def deployment_config(self, alarms: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
        """UpdateEndpoint's DeploymentConfig."""
        size = {"Type": "CAPACITY_PERCENT", "Value": self.step_percent}
        routing: dict[str, Any] = {
            "Type": self.strategy.upper().replace("-", "_"),
            "WaitIntervalInSeconds": self.wait_s,
        }
        if self.strategy == "canary":
            routing["CanarySize"] = size
        elif self.strategy == "linear":
            routing["LinearStepSize"] = size
        policy: dict[str, Any] = {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": self.final_bake_s,
        }
        # SageMaker gives up (and rolls back) after this; bounded by the API's range.
        if timeout_s >= MIN_EXECUTION_S:
            policy["MaximumExecutionTimeoutInSeconds"] = int(min(timeout_s, MAX_EXECUTION_S))
        config: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
        if alarms:
            config["AutoRollbackConfiguration"] = {
                "Alarms": [{"AlarmName": alarm} for alarm in alarms]
            }
        return config
