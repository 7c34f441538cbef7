"""A/B variants against moto over HTTP: serve two models, shift weights, call one, watch both.

moto blanks a variant's instance count on UpdateEndpointWeightsAndCapacities, ignores
TargetVariant and has no percentile statistics: `fake_sagemaker` fills those in with the real
API's shapes. CloudWatch datapoints are put as SageMaker would publish them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import IMAGE, Cloud, make_artifact, run_cli
from sagemaker_publishes import put_variant_metrics

from deploy import names

POLL = ("--poll-interval", "0.01")


def _sm(cloud: Cloud) -> Any:
    return cloud.client("sagemaker")


def _live(cloud: Cloud) -> dict[str, dict[str, Any]]:
    described = _sm(cloud).describe_endpoint(EndpointName="headline")
    return {v["VariantName"]: v for v in described["ProductionVariants"]}


def _serve_two(cloud: Cloud, artifact: Path) -> dict[str, Any]:
    newer = make_artifact(artifact.parent / "newer", accuracy=0.95)
    result = run_cli(
        "variants", "--endpoint", "headline", "--image", IMAGE, *POLL,
        "--variant", f"name=A,artifact={artifact},weight=3",
        "--variant", f"name=B,artifact={newer},weight=1,instance-type=ml.m5.xlarge,instances=2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "75.0%" in result.stdout and "25.0%" in result.stdout
    serving = _sm(cloud).describe_endpoint(EndpointName="headline")["EndpointConfigName"]
    return dict(_sm(cloud).describe_endpoint_config(EndpointConfigName=serving))


def test_two_variants_are_served_with_their_weights_and_instance_types(
    cloud: Cloud, artifact: Path
) -> None:
    config = _serve_two(cloud, artifact)
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    assert (variants["A"]["InitialVariantWeight"], variants["B"]["InitialVariantWeight"]) == (3, 1)
    assert variants["A"]["InstanceType"] == "ml.c5.xlarge"
    assert (variants["B"]["InstanceType"], variants["B"]["InitialInstanceCount"]) == (
        "ml.m5.xlarge",
        2,
    )
    assert variants["A"]["ModelName"] != variants["B"]["ModelName"]
    assert config["MetricsConfig"]["EnableDetailedObservability"] is True
    # Both models are named after the endpoint, so `delete` removes them.
    assert all(names.belongs_to(v["ModelName"], "headline") for v in variants.values())


def test_traffic_shifts_one_weight_in_place_and_keeps_its_instances(
    cloud: Cloud, artifact: Path
) -> None:
    _serve_two(cloud, artifact)
    configs_before = len(_sm(cloud).list_endpoint_configs()["EndpointConfigs"])
    result = run_cli("traffic", "--endpoint", "headline", "--variant", "B", "--weight", "3", *POLL)
    assert result.exit_code == 0, result.output
    assert cloud.scripts.weight_calls[-1] == {
        "EndpointName": "headline",
        "DesiredWeightsAndCapacities": [{"VariantName": "B", "DesiredWeight": 3.0}],
    }
    live = _live(cloud)
    assert (live["A"]["CurrentWeight"], live["B"]["CurrentWeight"]) == (3.0, 3.0)
    assert live["B"]["CurrentInstanceCount"] == 2
    assert result.stdout.count("50.0%") == 2
    # In place: no new endpoint config, no new fleet.
    assert len(_sm(cloud).list_endpoint_configs()["EndpointConfigs"]) == configs_before

    scaled = run_cli("traffic", "--endpoint", "headline", "--variant", "A", "--weight", "1",
                     "--instances", "3", *POLL)  # fmt: skip
    assert scaled.exit_code == 0, scaled.output
    assert _live(cloud)["A"]["CurrentInstanceCount"] == 3


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--variant", "Z", "--weight", "1"], "has no variant 'Z' (it has A, B)"),
        (["--variant", "A", "--weight", "-1"], "--weight must not be negative"),
    ],
)
def test_traffic_refuses_unknown_variants_and_bad_weights(
    cloud: Cloud, artifact: Path, args: list[str], expected: str
) -> None:
    _serve_two(cloud, artifact)
    result = run_cli("traffic", "--endpoint", "headline", *args, *POLL)
    assert result.exit_code != 0
    assert expected in result.stderr
    assert cloud.scripts.weight_calls == []


def test_traffic_never_leaves_every_variant_at_weight_zero(cloud: Cloud, artifact: Path) -> None:
    _serve_two(cloud, artifact)
    assert (
        run_cli(
            "traffic", "--variant", "B", "--weight", "0", "--endpoint", "headline", *POLL
        ).exit_code
        == 0
    )
    result = run_cli("traffic", "--variant", "A", "--weight", "0", "--endpoint", "headline", *POLL)
    assert result.exit_code == 1
    assert "every production variant would have weight 0" in result.stderr
    assert len(cloud.scripts.weight_calls) == 1


def test_invoke_calls_the_variant_it_names(cloud: Cloud, artifact: Path) -> None:
    _serve_two(cloud, artifact)
    cloud.endpoint_results('[{"label": "sports", "score": 0.9}]')
    result = run_cli("invoke", "--endpoint", "headline", "--variant", "B", "--text", "Cup final")
    assert result.exit_code == 0, result.output
    assert cloud.scripts.invocations[-1] == {"EndpointName": "headline", "TargetVariant": "B"}
    assert "variant B" in result.stdout
    unknown = run_cli("invoke", "--endpoint", "headline", "--variant", "C", "--text", "Cup final")
    assert unknown.exit_code == 1
    assert "no production variant C" in unknown.stderr


def test_status_shows_each_variant_side_by_side_with_its_recent_numbers(
    cloud: Cloud, artifact: Path
) -> None:
    _serve_two(cloud, artifact)
    put_variant_metrics(cloud, "A", 40, 2, [10_000, 20_000, 30_000, 40_000])
    put_variant_metrics(cloud, "B", 10, 0, [5_000, 7_000])
    result = run_cli("status", "--endpoint", "headline", "--minutes", "30")
    assert result.exit_code == 0, result.output
    assert "variants, last 30 min" in result.stdout
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines()
            if line.startswith("│ A ") or line.startswith("│ B ")}  # fmt: skip
    cells = {name: [cell.strip() for cell in line.split("│")[1:-1]] for name, line in rows.items()}
    # variant, role, model, instances, weight, traffic, invocations, 4xx / 5xx, error %, p50 / p99
    assert cells["A"][3:] == [
        "ml.c5.xlarge x 1",
        "3",
        "75.0%",
        "40",
        "0 / 2",
        "5.00",
        "20.0 / 40.0",
    ]
    assert cells["B"][3:] == ["ml.m5.xlarge x 2", "1", "25.0%", "10", "0 / 0", "0.00", "5.0 / 7.0"]


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (["name=A,artifact=x"], "give 2-10 --variant flags (got 1)"),
        (["name=A,artifact=x", "name=A,artifact=y"], "--variant names must be unique"),
        (["name=A", "name=B,artifact=y"], "give name= and exactly one of artifact"),
        (["name=A,artifact=x,package=p", "name=B,artifact=y"], "exactly one of"),
        (["name=A,artifact=x,weight=-1", "name=B,artifact=y"], "weight must not be negative"),
        (["name=A,artifact=x,colour=red", "name=B,artifact=y"], "unknown key 'colour'"),
        (["name=A,artifact=x,weight=0", "name=B,artifact=y,weight=0"], "a weight above 0"),
        (["name=A_1,artifact=x", "name=B,artifact=y"], "--variant name 'A_1' must be"),
    ],
)
def test_bad_variants_are_refused_in_one_line_before_any_call(
    variants: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a call would fail otherwise
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    flags = [part for text in variants for part in ("--variant", text)]
    result = run_cli("variants", "--endpoint", "headline", *flags)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1
