"""Delete an endpoint and everything `deploy` made for it; optionally its images and data.

Only resources whose names `deploy.names.versioned` derived from the endpoint name are
touched, so other models and configs in the account are safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from rich.console import Console

from deploy import alarms, autoscale, inference_components, names, observability
from deploy.aws import Aws
from deploy.config import ECR_IMAGE, split_s3_uri
from deploy.endpoint import describe_endpoint
from deploy.storage import ModelData
from deploy.waiting import Poll

COMPONENT_POLL = Poll(interval_s=5, timeout_s=1200)


@dataclass
class Plan:
    endpoint: str
    endpoint_exists: bool = False
    autoscaling: bool = False
    configs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    images: set[tuple[str, str]] = field(default_factory=set)
    data_uris: set[str] = field(default_factory=set)
    alarms: list[str] = field(default_factory=list)
    dashboards: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # inference components, deleted first

    @property
    def empty(self) -> bool:
        return not (
            self.endpoint_exists or self.configs or self.models or self.alarms or self.dashboards
        )


def _names(pages: object, list_key: str, name_key: str, endpoint: str) -> list[str]:
    found: list[str] = []
    for page in pages:  # type: ignore[attr-defined]
        found += [item[name_key] for item in page[list_key]]
    return sorted(name for name in found if names.belongs_to(name, endpoint))


def versions(aws: Aws, endpoint: str) -> list[str]:
    """Our endpoint configs for this endpoint, newest first (models share their names)."""
    pages = aws.sagemaker.get_paginator("list_endpoint_configs").paginate(
        NameContains=names.head(endpoint)
    )
    listed = [
        item
        for page in pages
        for item in page["EndpointConfigs"]
        if names.belongs_to(item["EndpointConfigName"], endpoint)
    ]
    listed.sort(key=lambda item: item["CreationTime"], reverse=True)
    return [str(item["EndpointConfigName"]) for item in listed]


def prune(aws: Aws, endpoint: str, keep: int, serving: str) -> list[str]:
    """Delete the configs and models of versions older than the newest `keep`, never `serving`."""
    old = [name for name in versions(aws, endpoint)[keep:] if name != serving]
    for name in old:
        aws.sagemaker.delete_endpoint_config(EndpointConfigName=name)
        try:
            aws.sagemaker.delete_model(ModelName=name)
        except ClientError as exc:  # already gone: nothing to prune
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
    return old


def make_plan(aws: Aws, endpoint: str, variant: str = "AllTraffic") -> Plan:
    plan = Plan(endpoint)
    plan.endpoint_exists = describe_endpoint(aws, endpoint) is not None
    if plan.endpoint_exists:
        plan.autoscaling = autoscale.current(aws, endpoint, variant) is not None
        plan.components = inference_components.components_of(aws, endpoint)
    sm = aws.sagemaker
    plan.configs = _names(
        sm.get_paginator("list_endpoint_configs").paginate(NameContains=names.head(endpoint)),
        "EndpointConfigs",
        "EndpointConfigName",
        endpoint,
    )
    plan.models = _names(
        sm.get_paginator("list_models").paginate(NameContains=names.head(endpoint)),
        "Models",
        "ModelName",
        endpoint,
    )
    plan.alarms = alarms.existing(aws, endpoint)
    plan.dashboards = observability.existing_dashboards(aws, endpoint)
    for model in plan.models:
        container = sm.describe_model(ModelName=model).get("PrimaryContainer", {})
        match = ECR_IMAGE.match(container.get("Image", ""))
        if match and match["region"] == aws.region:
            reference = match["digest"] or match["tag"] or "latest"
            plan.images.add((match["repository"], reference))
        if "ModelDataUrl" in container or "ModelDataSource" in container:
            plan.data_uris.add(ModelData.from_container(container).uri)
    return plan


def execute(aws: Aws, plan: Plan, images: bool, artifacts: bool, console: Console) -> None:
    sm = aws.sagemaker
    if plan.autoscaling:
        autoscale.disable(aws, plan.endpoint, "AllTraffic")
        console.print("autoscaling removed")
    # SageMaker refuses to delete an endpoint that still hosts components.
    inference_components.remove(aws, plan.components, console, COMPONENT_POLL)
    if plan.endpoint_exists:
        sm.delete_endpoint(EndpointName=plan.endpoint)
        console.print(f"endpoint {plan.endpoint} deleted")
    for config in plan.configs:
        sm.delete_endpoint_config(EndpointConfigName=config)
    for model in plan.models:
        sm.delete_model(ModelName=model)
    console.print(f"{len(plan.configs)} endpoint configs and {len(plan.models)} models deleted")
    alarms.delete(aws, plan.alarms)
    observability.delete_dashboards(aws, plan.dashboards)
    if plan.alarms or plan.dashboards:
        console.print(f"{len(plan.alarms)} alarms and {len(plan.dashboards)} dashboards deleted")
    if images:
        for repository, reference in sorted(plan.images):
            image_id = {"imageDigest" if reference.startswith("sha256:") else "imageTag": reference}
            aws.ecr.batch_delete_image(repositoryName=repository, imageIds=[image_id])
            console.print(f"image {repository}:{reference} deleted")
    if artifacts:
        for uri in sorted(plan.data_uris):
            _delete_s3(aws, uri)
            console.print(f"model data {uri} deleted")


def _delete_s3(aws: Aws, uri: str) -> None:
    bucket, key = split_s3_uri(uri)
    if not key.endswith("/"):
        aws.s3.delete_object(Bucket=bucket, Key=key)
        return
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            aws.s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
