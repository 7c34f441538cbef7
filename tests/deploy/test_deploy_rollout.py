"""Rollout strategies, the alarms `deploy` makes and the dashboard, against moto over HTTP.

The baking period of a guarded update is scripted in `fake_sagemaker` (moto has neither
UpdateEndpoint nor guardrails): `AlarmFires:NAME` breaches an alarm in moto's CloudWatch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import IMAGE, Cloud, deploy_args, make_artifact, run_cli

ALARMS = ["headline-5xx-rate", "headline-p99-latency", "headline-server-health"]


def _sm(cloud: Cloud) -> Any:
    return cloud.client("sagemaker")


def _cw(cloud: Cloud) -> Any:
    return cloud.client("cloudwatch")


def _serving(cloud: Cloud) -> str:
    return str(_sm(cloud).describe_endpoint(EndpointName="headline")["EndpointConfigName"])


def _alarms(cloud: Cloud) -> dict[str, dict[str, Any]]:
    described = _cw(cloud).describe_alarms(AlarmNamePrefix="headline")["MetricAlarms"]
    return {alarm["AlarmName"]: alarm for alarm in described}


def _deploy_twice(
    cloud: Cloud, artifact: Path, *update: str, script: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    """A first deploy, then an update with UPDATE flags (the endpoint scripted by SCRIPT)."""
    first = run_cli(*deploy_args("--artifact", str(artifact), "--instance-count", "4"))
    assert first.exit_code == 0, first.output
    if script:
        cloud.scripts.endpoint("headline", *script)
    newer = make_artifact(artifact.parent / "newer", accuracy=0.93)
    result = run_cli(
        *deploy_args("--artifact", str(newer), "--instance-count", "4", "--timeout", "7200"),
        *update,
    )
    return result.exit_code, result.output, _serving(cloud)


@pytest.mark.parametrize(
    ("flags", "routing"),
    [
        ([], {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}),
        (
            ["--strategy", "canary", "--canary-percent", "25", "--bake", "10m"],
            {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 600,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            },
        ),
        (
            ["--strategy", "linear", "--linear-step", "50", "--step-wait", "90s"],
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 90,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            },
        ),
    ],
)
def test_each_strategy_reaches_sagemaker_as_its_deployment_config(
    cloud: Cloud, artifact: Path, flags: list[str], routing: dict[str, Any]
) -> None:
    code, output, serving = _deploy_twice(cloud, artifact, *flags, "--final-bake", "5m")
    assert code == 0, output
    update = cloud.scripts.update_calls[-1]
    assert update["EndpointConfigName"] == serving
    config = update["DeploymentConfig"]
    policy = config["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == routing
    assert policy["TerminationWaitInSeconds"] == 300
    assert policy["MaximumExecutionTimeoutInSeconds"] == 7200
    watched = sorted(a["AlarmName"] for a in config["AutoRollbackConfiguration"]["Alarms"])
    assert watched == ALARMS


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--strategy", "canary"], "a canary of 10% of 1 instance(s) is 1; SageMaker allows"),
        (
            ["--strategy", "canary", "--instance-count", "3", "--canary-percent", "50"],
            "a canary of 50% of 3 instance(s) is 2",
        ),
        (["--strategy", "canary", "--canary-percent", "60"], "--canary-percent must be 1-50"),
        (["--strategy", "linear", "--bake", "5m"], "--bake does not apply to --strategy linear"),
        (["--canary-percent", "10"], "--canary-percent does not apply to --strategy all-at-once"),
        (["--strategy", "linear", "--linear-step", "5"], "--linear-step must be 10-50"),
        (["--strategy", "blue-green"], "--strategy must be one of all-at-once, canary, linear"),
        (["--strategy", "canary", "--bake", "2h"], "--bake 2h is over SageMaker's limit"),
        (["--strategy", "canary", "--bake", "soon"], "must be seconds or a duration"),
        (
            ["--strategy", "linear", "--instance-count", "10", "--timeout", "1200"],
            "bakes for at least 1320 s but --timeout is 1200 s",
        ),
        (["--metrics-frequency", "45"], "--metrics-frequency must be one of 10, 30, 60"),
        (["--slo-p99-ms", "0"], "--slo-p99-ms must be positive"),
    ],
)
def test_bad_rollouts_are_refused_in_one_line_before_any_call(
    args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, artifact: Path
) -> None:
    # Nothing listens on port 9: a check that came after a call would fail differently.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("DEPLOY_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
    result = run_cli("deploy", "--image", IMAGE, "--package", "headline-topics", *args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1


def test_alarms_dashboard_and_metrics_config_are_made_and_deleted_with_the_endpoint(
    cloud: Cloud, artifact: Path, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """SageMaker "Getting started with detailed observability" and "Connect to your
    observability tool": the server's metrics arrive as OpenTelemetry metrics read with PromQL,
    so the server-health alarm is a PromQL alarm (CloudWatch API PutMetricAlarm,
    EvaluationCriteria) and the container names its metrics path (ContainerMetricsConfig)."""
    result = run_cli(
        *deploy_args(
            "--artifact", str(artifact), "--slo-p99-ms", "250", "--metrics-frequency", "30"
        )
    )
    assert result.exit_code == 0, result.output
    config = _sm(cloud).describe_endpoint_config(EndpointConfigName=_serving(cloud))
    assert config["MetricsConfig"] == {
        "EnableDetailedObservability": True,
        "MetricPublishFrequencyInSeconds": 30,
    }
    alarms = _alarms(cloud)
    assert sorted(alarms) == ALARMS
    latency = alarms["headline-p99-latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("ModelLatency", "p99")
    assert latency["Threshold"] == 250_000  # ModelLatency is in microseconds
    # The server's metrics are OpenTelemetry metrics read with PromQL ("Getting started with
    # detailed observability"): a PromQL alarm, as sent (moto keeps no EvaluationCriteria).
    [server] = [p for op, p in sent_calls
                if op == "PutMetricAlarm" and p["AlarmName"] == "headline-server-health"]  # fmt: skip
    query = server["EvaluationCriteria"]["PromQLCriteria"]["Query"]
    assert '"serve_rejects_total", "aws.sagemaker.endpoint.name"="headline"' in query
    assert "serve_failed_batches_total" in query and query.endswith("> 10")
    [model] = [p for op, p in sent_calls if op == "CreateModel"]
    assert model["PrimaryContainer"]["ContainerMetricsConfig"] == {
        "MetricsEndpoints": [{"MetricsEndpointPath": "/metrics", "MetricPublishFrequencyInSeconds": 30}]
    }  # fmt: skip
    body = json.loads(_cw(cloud).get_dashboard(DashboardName="headline")["DashboardBody"])
    shown = json.dumps(body)
    for metric in ("Invocations", "ModelLatency", "serve_predictions_total", "serve_rejects_total",
                   "serve_request_seconds_bucket", "PromQL"):  # fmt: skip
        assert metric in shown, metric

    deleted = run_cli("delete", "--endpoint", "headline", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert "3 alarms and 1 dashboards deleted" in deleted.stdout
    assert _alarms(cloud) == {}
    assert _cw(cloud).list_dashboards()["DashboardEntries"] == []


def test_alarms_the_user_names_replace_the_made_ones(cloud: Cloud, artifact: Path) -> None:
    _cw(cloud).put_metric_alarm(
        AlarmName="headline-own", MetricName="Invocations", Namespace="AWS/SageMaker",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    code, output, _ = _deploy_twice(cloud, artifact, "--rollback-alarm", "headline-own")
    assert code == 0, output
    alarms = cloud.scripts.update_calls[-1]["DeploymentConfig"]["AutoRollbackConfiguration"]
    assert alarms == {"Alarms": [{"AlarmName": "headline-own"}]}
    assert "headline-p99-latency" in _alarms(cloud), "made by the first deploy, kept"


def test_without_detailed_observability_no_alarm_watches_the_server(
    cloud: Cloud, artifact: Path
) -> None:
    """SageMaker API MetricsConfig: new endpoint configs default EnableDetailedObservability
    to true, so "off" is sent as false."""
    result = run_cli(*deploy_args("--artifact", str(artifact), "--metrics-frequency", "0"))
    assert result.exit_code == 0, result.output
    assert sorted(_alarms(cloud)) == ALARMS[:2]
    config = _sm(cloud).describe_endpoint_config(EndpointConfigName=_serving(cloud))
    # SageMaker API, MetricsConfig: new configs default to on, so "off" is said, not implied.
    assert config["MetricsConfig"] == {"EnableDetailedObservability": False}


def test_an_alarm_firing_during_baking_rolls_the_update_back(cloud: Cloud, artifact: Path) -> None:
    first = run_cli(*deploy_args("--artifact", str(artifact), "--instance-count", "4"))
    assert first.exit_code == 0, first.output
    blue = _serving(cloud)
    cloud.scripts.endpoint(
        "headline", "Updating", "Updating", "AlarmFires:headline-p99-latency", "InService"
    )
    newer = make_artifact(artifact.parent / "newer", accuracy=0.93)
    result = run_cli(
        *deploy_args("--artifact", str(newer), "--instance-count", "4", "--timeout", "3600"),
        "--strategy", "canary", "--canary-percent", "25", "--bake", "5m",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "Alarm headline-p99-latency went into ALARM" in result.stderr
    assert f"SageMaker kept {blue} serving" in result.stderr
    assert _serving(cloud) == blue
    assert _alarms(cloud)["headline-p99-latency"]["StateValue"] == "ALARM"
    listed = _sm(cloud).list_endpoint_configs(NameContains="headline")["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in listed] == [blue], "green's config is removed"


def test_an_alarm_the_update_does_not_watch_does_not_roll_it_back(
    cloud: Cloud, artifact: Path
) -> None:
    _cw(cloud).put_metric_alarm(
        AlarmName="headline-unrelated", MetricName="Invocations", Namespace="AWS/SageMaker",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    code, output, serving = _deploy_twice(
        cloud, artifact, script=("Updating", "AlarmFires:headline-unrelated", "InService")
    )
    assert code == 0, output
    assert serving == cloud.scripts.update_calls[-1]["EndpointConfigName"]
