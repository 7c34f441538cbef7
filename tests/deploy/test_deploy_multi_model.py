"""Multi-model endpoints: `deploy --multi-model`, `models add | list | remove`,
`invoke --target-model` and `status`, against moto (issue 23). Each test names the AWS
document it follows; conformance.py holds the same rules over the whole deploy suite."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import botocore.session
import conformance
import pytest
from botocore.validate import ParamValidator
from deploy_helpers import BUCKET, IMAGE, Cloud, cli_ok, deploy_args, make_artifact, run_cli, sent

from deploy.artifacts import build_tarball, load_deployable
from service.backend.artifact import MANIFEST_NAME

PREFIX = f"s3://{BUCKET}/headline-serve/models/"
DEFAULT_PREFIX = f"s3://{BUCKET}/headline-serve/models/"


def _valid(service: str, operation: str, params: dict[str, Any]) -> None:
    """The request against the pinned botocore service model (as the real API would parse it)."""
    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def _keys(cloud: Cloud) -> list[str]:
    listed = cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="headline-serve/models/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_deploy_multi_model_makes_a_multimodel_container_on_the_prefix(
    cloud: Cloud, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """AWS docs "Create a multi-model endpoint" (CreateModel with `Mode=MultiModel` and
    `ModelDataUrl` the S3 prefix of the models) and "Build your own container for multi-model
    endpoints" (SAGEMAKER_MULTI_MODEL=true); the request holds to the pinned botocore model."""
    out = cli_ok(*deploy_args("--multi-model", "--models-prefix", PREFIX))
    assert "InService" in out and PREFIX in out
    [model] = sent(sent_calls, "CreateModel")
    _valid("sagemaker", "CreateModel", model)
    container = model["PrimaryContainer"]
    assert container["Mode"] == "MultiModel"
    assert container["ModelDataUrl"] == PREFIX
    assert "ModelDataSource" not in container
    assert container["Environment"]["SAGEMAKER_MULTI_MODEL"] == "true"
    [config] = sent(sent_calls, "CreateEndpointConfig")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.c5.xlarge"
    described = cloud.client("sagemaker").describe_model(ModelName=model["ModelName"])
    assert described["PrimaryContainer"]["Mode"] == "MultiModel"


def test_deploy_multi_model_defaults_to_models_under_the_bucket_prefix(
    cloud: Cloud, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """AWS docs "Create a multi-model endpoint": one prefix holds every model's tarball."""
    cli_ok(*deploy_args("--multi-model"))
    [model] = sent(sent_calls, "CreateModel")
    assert model["PrimaryContainer"]["ModelDataUrl"] == DEFAULT_PREFIX


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--serverless"], "serverless inference does not support multi-model"),
        (["--async"], "InvokeEndpointAsync has no TargetModel"),
        (["--inference-component"], "no Mode=MultiModel"),
        (["--instance-type", "ml.g5.xlarge"], "CPU instances only"),
        (["--artifact", "model"], "takes no --artifact"),
        (["--package", "headline-topics"], "takes no --package"),
        (["--smoke-text", "hi"], "invoke --target-model"),
        (["--models-prefix", f"s3://{BUCKET}/models.tar.gz"], "must be a folder"),
    ],
)
def test_deploy_multi_model_refuses_what_sagemaker_does_not_host(
    cloud: Cloud, sent_calls: list[tuple[str, dict[str, Any]]], flags: list[str], reason: str
) -> None:
    """AWS docs "Supported algorithms, frameworks, and instances for multi-model endpoints"
    (every CPU instance type; GPU only through SageMaker's Triton container) and "Custom
    containers contract for multi-model endpoints" (its note: GPU-backed MME only with Triton);
    Serverless Inference's feature exclusions (no multi-model endpoints); SageMaker Runtime:
    InvokeEndpointAsync (no TargetModel) and CreateInferenceComponent (its container spec has
    no Mode), per the pinned botocore models. Refused in one line before any AWS call."""
    result = run_cli(*deploy_args("--multi-model", *flags))
    assert result.exit_code == 2, result.output
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sent_calls == []


def test_models_prefix_needs_multi_model(cloud: Cloud) -> None:
    result = run_cli(*deploy_args("--models-prefix", PREFIX, "--model-data", PREFIX))
    assert result.exit_code == 2
    assert "--models-prefix needs --multi-model" in result.stderr


def test_models_add_list_invoke_remove_round_trip(
    cloud: Cloud, tmp_path: Path, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """AWS docs "Invoke a multi-model endpoint": `TargetModel` is the model's path relative to
    the prefix in `ModelDataUrl`, and SageMaker loads `prefix + TargetModel` from S3; "Add or
    remove models": a model is added by copying its tarball under the prefix, removed by
    deleting it. The TargetModel holds to the pinned sagemaker-runtime model."""
    cli_ok(*deploy_args("--multi-model", "--models-prefix", PREFIX))
    news = make_artifact(tmp_path / "news", accuracy=0.91)
    sport = make_artifact(tmp_path / "sport", accuracy=0.95)
    packed = build_tarball(load_deployable(sport), tmp_path / "sport.tar.gz")

    out = cli_ok("models", "add", "news", str(news), "--endpoint", "headline")
    assert f"{PREFIX}news.tar.gz" in out
    cli_ok("models", "add", "sport", str(packed), "--models-prefix", PREFIX)
    assert _keys(cloud) == [
        "headline-serve/models/news.tar.gz",
        "headline-serve/models/sport.tar.gz",
    ]
    # The object is the artifact packed for SageMaker: the manifest at the archive root.
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key="headline-serve/models/news.tar.gz")
    archive = tmp_path / "news-back.tar.gz"
    archive.write_bytes(body["Body"].read())
    with tarfile.open(archive, "r:gz") as tar:
        assert MANIFEST_NAME in tar.getnames()
    # The same bytes again: nothing sent; other bytes under a taken name: refused.
    assert "already there" in cli_ok("models", "add", "news", str(news), "--endpoint", "headline")
    refused = run_cli("models", "add", "news", str(sport), "--endpoint", "headline")
    assert refused.exit_code == 1 and "already holds different bytes" in refused.stderr

    listed = cli_ok("models", "list", "--endpoint", "headline")
    assert "news.tar.gz" in listed and "sport.tar.gz" in listed

    cloud.endpoint_results('[{"label": "sports", "score": 0.9}]')
    answer = cli_ok("invoke", "--endpoint", "headline", "--target-model", "sport", "--text", "Cup")
    assert "sports" in answer
    [invoked] = sent(sent_calls, "InvokeEndpoint")
    assert invoked["TargetModel"] == "sport.tar.gz"
    _valid("sagemaker-runtime", "InvokeEndpoint", invoked)
    assert cloud.scripts.invocations[-1]["TargetModel"] == "sport.tar.gz"

    cli_ok("models", "remove", "sport", "--endpoint", "headline")
    assert _keys(cloud) == ["headline-serve/models/news.tar.gz"]
    missing = run_cli("invoke", "--endpoint", "headline", "--target-model", "sport", "--text", "x")
    assert missing.exit_code == 1 and "sport.tar.gz" in missing.stderr
    gone = run_cli("models", "remove", "sport", "--endpoint", "headline")
    assert gone.exit_code == 1 and "no model 'sport'" in gone.stderr


def test_models_commands_refuse_a_bad_name_or_an_endpoint_that_is_not_multi_model(
    cloud: Cloud, artifact: Path
) -> None:
    """SageMaker Runtime: InvokeEndpoint (TargetModel: printable, no leading space, at most
    1024 characters); ours are also the container's `model_name`, so plain names only."""
    bad = run_cli("models", "add", "../escape", str(artifact), "--models-prefix", PREFIX)
    assert bad.exit_code == 2 and "model name" in bad.stderr
    cli_ok(*deploy_args("--artifact", str(artifact)))
    single = run_cli("models", "list", "--endpoint", "headline")
    assert single.exit_code == 1 and "not a multi-model endpoint" in single.stderr
    wrong = run_cli("invoke", "--endpoint", "headline", "--target-model", "a b", "--text", "x")
    assert wrong.exit_code == 2


def test_status_shows_the_models_under_the_prefix(cloud: Cloud, artifact: Path) -> None:
    """AWS docs "Invoke a multi-model endpoint": the models an endpoint can load are the
    tarballs under its prefix, so `status` lists them with their TargetModel."""
    cli_ok(*deploy_args("--multi-model"))
    assert "(none yet)" in cli_ok("status", "--endpoint", "headline")
    cli_ok("models", "add", "news", str(artifact), "--endpoint", "headline")
    out = cli_ok("status", "--endpoint", "headline")
    assert f"models under {DEFAULT_PREFIX}" in out
    assert "news.tar.gz" in out


def test_conformance_holds_the_multi_model_rules(cloud: Cloud) -> None:
    """AWS docs "Invoke a multi-model endpoint" (TargetModel chooses the model; without it an
    MME has nothing to run), "Create a multi-model endpoint" (a prefix), "Supported algorithms,
    frameworks, and instances for multi-model endpoints" (no GPU for our container), shadow
    tests' exclusions (no multi-model endpoints): the layer refuses each broken call."""
    cli_ok(*deploy_args("--multi-model"))
    with pytest.raises(conformance.Violation, match="needs TargetModel"):
        conformance.check("InvokeEndpoint", {"EndpointName": "headline", "Body": b"x"})
    with pytest.raises(conformance.Violation, match="no multi-model endpoint"):
        conformance.check("InvokeEndpointAsync", {"EndpointName": "headline"})
    with pytest.raises(conformance.Violation, match="an S3 prefix"):
        conformance.check(
            "CreateModel",
            {"PrimaryContainer": {"Mode": "MultiModel", "ModelDataUrl": "s3://b/m.tar.gz"}},
        )
    [model] = cloud.client("sagemaker").list_models()["Models"]
    gpu = {
        "ProductionVariants": [{"ModelName": model["ModelName"], "InstanceType": "ml.g5.xlarge"}]
    }
    with pytest.raises(conformance.Violation, match="GPU"):
        conformance.check("CreateEndpointConfig", gpu)
    shadow = {
        "ProductionVariants": [],
        "ShadowProductionVariants": [{"ModelName": model["ModelName"]}],
    }
    with pytest.raises(conformance.Violation, match="shadow"):
        conformance.check("CreateEndpointConfig", shadow)
    with pytest.raises(conformance.Violation, match="not multi-model"):
        conformance.check("InvokeEndpoint", {"EndpointName": "other", "TargetModel": "a.tar.gz"})


def test_shadow_refuses_a_multi_model_endpoint_before_making_anything(
    cloud: Cloud, artifact: Path, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """AWS docs: shadow tests' exclusions (no multi-model endpoints)."""
    cli_ok(*deploy_args("--multi-model"))
    sent_calls.clear()
    result = run_cli("shadow", "--endpoint", "headline", "--candidate", str(artifact),
                     "--percent", "10", "--image", IMAGE)  # fmt: skip
    assert result.exit_code == 1
    assert "SageMaker runs no shadow test on a multi-model endpoint" in result.stderr
    assert sent(sent_calls, "CreateModel") == [] == sent(sent_calls, "CreateEndpointConfig")
