"""End to end: the CLI against a moto server over HTTP, through the whole lifecycle."""

from __future__ import annotations

from deploy_helpers import BUCKET, IMAGE, Cloud, deploy_args, run_cli


def test_first_deploy_creates_model_config_and_endpoint(cloud: Cloud, artifact) -> None:
    result = run_cli(*deploy_args("--artifact", str(artifact)))
    assert result.exit_code == 0, result.output
    sm = cloud.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="headline")
    assert endpoint["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.c5.xlarge"
    assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"].startswith(f"s3://{BUCKET}/headline-serve/")
