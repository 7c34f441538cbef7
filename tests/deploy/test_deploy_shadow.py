"""Shadow tests against moto over HTTP: create, compare, promote, stop.

SageMaker's side of a shadow test is played as SageMaker plays it: CloudWatch datapoints per
variant (its own metrics, and the server's per-label counter through detailed observability)
and data capture JSON Lines in S3, one file per variant, in the documented record shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import BUCKET, IMAGE, Cloud, deploy_args, make_artifact, run_cli
from sagemaker_publishes import (
    CAPTURE,
    capture_record,
    put_capture,
    put_label_counts,
    put_variant_metrics,
)

POLL = ("--poll-interval", "0.01")


def _sm(cloud: Cloud) -> Any:
    return cloud.client("sagemaker")


def _serving_config(cloud: Cloud) -> dict[str, Any]:
    name = _sm(cloud).describe_endpoint(EndpointName="headline")["EndpointConfigName"]
    return dict(_sm(cloud).describe_endpoint_config(EndpointConfigName=name))


def _deploy_and_shadow(cloud: Cloud, artifact: Path, *deploy_flags: str) -> dict[str, Any]:
    first = run_cli(*deploy_args("--artifact", str(artifact), *deploy_flags))
    assert first.exit_code == 0, first.output
    candidate = make_artifact(artifact.parent / "candidate", accuracy=0.94)
    result = run_cli("shadow", "--endpoint", "headline", "--candidate", str(candidate),
                     "--percent", "25", "--image", IMAGE, *POLL)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "gets a copy of 25% of AllTraffic's requests" in result.stdout
    return _serving_config(cloud)


def _rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by their first cell."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


def test_a_shadow_is_created_compared_and_promoted(
    cloud: Cloud, artifact: Path, tmp_path: Path
) -> None:
    config = _deploy_and_shadow(cloud, artifact, "--capture-percent", "100")
    [production] = config["ProductionVariants"]
    [shadow] = config["ShadowProductionVariants"]
    production_model = production["ModelName"]
    assert (production["VariantName"], production["InitialVariantWeight"]) == ("AllTraffic", 1.0)
    assert shadow["VariantName"] == "Shadow" and shadow["InitialVariantWeight"] == 0.25
    assert (shadow["InstanceType"], shadow["InitialInstanceCount"]) == ("ml.c5.xlarge", 1)
    assert shadow["ModelName"] != production_model
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{BUCKET}/{CAPTURE}"
    assert config["MetricsConfig"]["EnableDetailedObservability"] is True
    described = _sm(cloud).describe_endpoint(EndpointName="headline")
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == ["Shadow"]
    status = _rows(run_cli("status", "--endpoint", "headline").stdout)
    assert status["Shadow"][0] == "shadow" and status["Shadow"][4] == "copy of 25%"

    put_variant_metrics(cloud, "AllTraffic", 100, 1, [20_000, 30_000])
    put_variant_metrics(cloud, "Shadow", 25, 0, [15_000, 18_000])
    put_label_counts(
        cloud, "AllTraffic", {"world": 40, "sports": 30, "business": 20, "scitech": 10}
    )
    put_label_counts(cloud, "Shadow", {"world": 10, "sports": 5, "business": 6, "scitech": 4})
    put_capture(cloud, "AllTraffic", [
        capture_record("inferenceId", "r1", ["sports", "world"]),
        capture_record("eventId", "e2", ["business"]),
        capture_record("inferenceId", "r3", ["world"]),
        capture_record("inferenceId", "r4", ["sports"]),  # not sampled for the shadow
    ])  # fmt: skip
    put_capture(cloud, "Shadow", [
        capture_record("inferenceId", "r1", ["sports", "world"]),
        capture_record("eventId", "e2", ["scitech"]),
        capture_record("inferenceId", "r3", ["world"], encoding="BASE64"),
    ])  # fmt: skip
    plot = tmp_path / "report" / "labels.png"
    report = run_cli(
        "shadow-report", "--endpoint", "headline", "--minutes", "30", "--plot", str(plot)
    )
    assert report.exit_code == 0, report.output
    rows = _rows(report.stdout)
    assert rows["invocations"] == ["100", "25"]
    assert rows["error rate"] == ["1.00%", "0.00%"]
    assert rows["ModelLatency p99 ms"] == ["30.0", "18.0"]
    assert rows["sports"] == ["30 (30.0%)", "5 (20.0%)", "-10.0"]
    assert rows["scitech"] == ["10 (10.0%)", "4 (16.0%)", "+6.0"]
    assert "total variation distance: 10.0 points" in report.stdout
    assert rows["requests answered by both"] == ["3"]
    assert rows["texts compared"] == ["4"]
    assert rows["same top label"] == ["75.00%"]
    assert rows["business -> scitech"] == ["1"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    promoted = run_cli("promote", "--endpoint", "headline", *POLL)
    assert promoted.exit_code == 0, promoted.output
    after = _serving_config(cloud)
    [serving] = after["ProductionVariants"]
    assert (serving["VariantName"], serving["ModelName"]) == ("AllTraffic", shadow["ModelName"])
    assert "ShadowProductionVariants" not in after
    assert after["DataCaptureConfig"] == config["DataCaptureConfig"]
    assert "ShadowProductionVariants" not in _sm(cloud).describe_endpoint(EndpointName="headline")
    assert cloud.scripts.update_calls[-1]["EndpointConfigName"] == after["EndpointConfigName"]


def test_stop_shadow_removes_it_and_leaves_production_as_it_was(
    cloud: Cloud, artifact: Path
) -> None:
    config = _deploy_and_shadow(cloud, artifact)
    stopped = run_cli("stop-shadow", "--endpoint", "headline", *POLL)
    assert stopped.exit_code == 0, stopped.output
    after = _serving_config(cloud)
    assert after["ProductionVariants"] == config["ProductionVariants"]
    assert "ShadowProductionVariants" not in after
    report = run_cli("shadow-report", "--endpoint", "headline")
    assert report.exit_code == 1
    assert "endpoint headline has no shadow variant" in report.stderr


def test_without_data_capture_the_report_says_so_and_still_compares_metrics(
    cloud: Cloud, artifact: Path
) -> None:
    _deploy_and_shadow(cloud, artifact)
    put_variant_metrics(cloud, "Shadow", 8, 2, [9_000])
    report = run_cli("shadow-report", "--endpoint", "headline", "--minutes", "30")
    assert report.exit_code == 0, report.output
    rows = _rows(report.stdout)
    assert rows["invocations"] == ["0", "8"] and rows["error rate"] == ["-", "25.00%"]
    assert rows["data capture"] == ["off: deploy with --capture-percent to compare answers"]
    assert "no predictions per label in CloudWatch" in report.stdout


def test_one_shadow_at_a_time_and_its_share_is_not_a_traffic_weight(
    cloud: Cloud, artifact: Path
) -> None:
    _deploy_and_shadow(cloud, artifact)
    again = run_cli("shadow", "--endpoint", "headline", "--candidate", str(artifact),
                    "--percent", "10", "--image", IMAGE, *POLL)  # fmt: skip
    assert again.exit_code == 1
    assert "already has shadow Shadow; `promote` or `stop-shadow` it first" in again.stderr
    weight = run_cli(
        "traffic", "--endpoint", "headline", "--variant", "Shadow", "--weight", "1", *POLL
    )
    assert weight.exit_code == 1
    assert "Shadow is the shadow variant" in weight.stderr


def test_a_shadow_needs_a_single_production_variant(cloud: Cloud, artifact: Path) -> None:
    two = run_cli(
        "variants", "--endpoint", "headline", "--image", IMAGE, *POLL,
        "--variant", f"name=A,artifact={artifact}", "--variant", f"name=B,artifact={artifact}",
    )  # fmt: skip
    assert two.exit_code == 0, two.output
    result = run_cli("shadow", "--endpoint", "headline", "--candidate", str(artifact),
                     "--percent", "10", "--image", IMAGE, *POLL)  # fmt: skip
    assert result.exit_code == 1
    assert "serves 2 production variants; a shadow test needs exactly one" in result.stderr
    assert run_cli("promote", "--endpoint", "headline", *POLL).exit_code == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--percent", "0"], "--percent must be above 0 and at most 100"),
        (["--percent", "150"], "--percent must be above 0 and at most 100"),
        (["--percent", "10", "--name", "bad_name"], "--name 'bad_name' must be"),
        (["--percent", "10", "--capture-percent", "101"], "--capture-percent must be between"),
    ],
)
def test_bad_shadow_flags_are_refused_before_any_call(
    args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("DEPLOY_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
    result = run_cli("shadow", "--candidate", "artifacts/x", *args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
