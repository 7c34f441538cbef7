"""Hosting the model as an inference component on an endpoint with instance capacity.

The endpoint config names no model: its variant is instance capacity that SageMaker scales
(`ManagedInstanceScaling`, down to zero instances) to fit the copies placed on it. The model
comes in as a component with the compute one copy needs (`deploy.component_sizing`) and a copy
count; a new version updates the component in place (SageMaker replaces copies on a rolling
basis), so the endpoint and its config stay. Components go before their endpoint on delete:
SageMaker refuses to delete an endpoint that still hosts one.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console

from deploy import autoscale, names, observability
from deploy.aws import Aws, tags
from deploy.endpoint import (
    ENDPOINT_TRANSIENT,
    EndpointSpec,
    ModelSource,
    create_model,
    describe_endpoint,
)
from deploy.errors import DeployError
from deploy.hosting_modes import Components, mode_of
from deploy.waiting import Poll, wait_until_settled

COMPONENT_TRANSIENT = frozenset({"Creating", "Updating", "Deleting"})


def component_name(endpoint: str) -> str:
    """One component per endpoint, under a stable name: its scaling target keeps it."""
    return f"{names.head(endpoint)}-component"


def endpoint_config_request(
    name: str, spec: EndpointSpec, hosting: Components, role_arn: str
) -> dict[str, Any]:
    """CreateEndpointConfig for instance capacity only (no model in the variant)."""
    return {
        "EndpointConfigName": name,
        "ExecutionRoleArn": role_arn,  # components are deployed with the config's role
        "ProductionVariants": [
            {
                "VariantName": spec.variant_name,
                "InstanceType": spec.instance_type,
                "InitialInstanceCount": spec.instance_count,
                "ManagedInstanceScaling": {
                    "Status": "ENABLED",
                    "MinInstanceCount": hosting.min_instances,
                    "MaxInstanceCount": hosting.max_instances,
                },
                "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
            }
        ],
        # Said either way: a new config without it has detailed observability on.
        "MetricsConfig": observability.metrics_config(spec.metrics_frequency_s),
        "Tags": tags(endpoint=spec.endpoint_name),
    }


def specification(model: str, spec: EndpointSpec, hosting: Components) -> dict[str, Any]:
    return {
        "ModelName": model,
        "ComputeResourceRequirements": hosting.compute(),
        "StartupParameters": {
            "ModelDataDownloadTimeoutInSeconds": spec.model_download_timeout_s,
            "ContainerStartupHealthCheckTimeoutInSeconds": spec.startup_health_timeout_s,
        },
    }


def describe_component(aws: Aws, name: str) -> dict[str, Any] | None:
    try:
        return dict(aws.sagemaker.describe_inference_component(InferenceComponentName=name))
    except ClientError as exc:
        if "Could not find" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise


def components_of(aws: Aws, endpoint: str) -> list[str]:
    found: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = aws.sagemaker.list_inference_components(EndpointNameEquals=endpoint, **token)
        found += [item["InferenceComponentName"] for item in page["InferenceComponents"]]
        if not page.get("NextToken"):
            return sorted(found)
        token = {"NextToken": page["NextToken"]}


class ComponentDeployer:
    def __init__(self, aws: Aws, console: Console, poll: Poll) -> None:
        self.aws, self.console, self.poll = aws, console, poll

    def deploy(
        self, spec: EndpointSpec, source: ModelSource, role_arn: str, hosting: Components
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Endpoint (made once) and component (made or updated); their final descriptions."""
        name = spec.endpoint_name
        endpoint = describe_endpoint(self.aws, name)
        if endpoint is not None:
            self._check_reusable(name, endpoint)
        version = names.versioned(name)
        create_model(self.aws, version, role_arn, source, name)
        if endpoint is None:
            self.aws.sagemaker.create_endpoint_config(
                **endpoint_config_request(version, spec, hosting, role_arn)
            )
            self.aws.sagemaker.create_endpoint(
                EndpointName=name, EndpointConfigName=version, Tags=tags(endpoint=name)
            )
            self.console.print(f"endpoint {name} created with instance capacity ({version})")
            endpoint = self._wait_endpoint(name)
        component = component_name(name)
        request = {
            "InferenceComponentName": component,
            "Specification": specification(version, spec, hosting),
            "RuntimeConfig": {"CopyCount": hosting.copies},
        }
        if describe_component(self.aws, component) is None:
            self.aws.sagemaker.create_inference_component(
                EndpointName=name,
                VariantName=spec.variant_name,
                Tags=tags(endpoint=name),
                **request,
            )
            self.console.print(f"component {component} created on {name} with model {version}")
        else:
            self.aws.sagemaker.update_inference_component(**request)
            self.console.print(f"component {component} moving to model {version}")
        final = wait_until_settled(
            lambda: dict(
                self.aws.sagemaker.describe_inference_component(InferenceComponentName=component)
            ),
            "InferenceComponentStatus",
            COMPONENT_TRANSIENT,
            f"component {component}",
            self.poll,
            self.console,
        )
        if final["InferenceComponentStatus"] != "InService":
            raise DeployError(
                f"component {component} is {final['InferenceComponentStatus']}: "
                f"{final.get('FailureReason') or 'no reason given'} (CloudWatch logs: "
                f"/aws/sagemaker/InferenceComponents/{component})"
            )
        return endpoint, final

    def _check_reusable(self, name: str, endpoint: dict[str, Any]) -> None:
        status = endpoint["EndpointStatus"]
        if status != "InService":
            raise DeployError(f"endpoint {name} is {status}; deploy once it is InService")
        config = self.aws.sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        if mode_of(config) != Components.mode:
            raise DeployError(
                f"endpoint {name} is hosted {mode_of(config)}; SageMaker cannot add components "
                f"to it: deploy under another --endpoint, or delete it first"
            )

    def _wait_endpoint(self, name: str) -> dict[str, Any]:
        final = wait_until_settled(
            lambda: dict(self.aws.sagemaker.describe_endpoint(EndpointName=name)),
            "EndpointStatus",
            ENDPOINT_TRANSIENT,
            f"endpoint {name}",
            self.poll,
            self.console,
        )
        if final["EndpointStatus"] != "InService":
            raise DeployError(
                f"endpoint {name} is {final['EndpointStatus']}: "
                f"{final.get('FailureReason', 'no reason given')}; remove it with "
                f"`python -m deploy delete --endpoint {name}`"
            )
        return final


def prune_models(aws: Aws, endpoint: str, keep: int, serving: str) -> list[str]:
    """Delete our models of this endpoint older than the newest `keep`, never `serving` (a
    component's endpoint config names no model, so models are versions of their own here)."""
    pages = aws.sagemaker.get_paginator("list_models").paginate(NameContains=names.head(endpoint))
    ours = sorted(
        (m["ModelName"] for page in pages for m in page["Models"]),
        reverse=True,  # the names end in a UTC time stamp: newest first
    )
    old = [n for n in ours if names.belongs_to(n, endpoint)][keep:]
    old = [n for n in old if n != serving]
    for model in old:
        aws.sagemaker.delete_model(ModelName=model)
    return old


def remove(aws: Aws, components: list[str], console: Console, poll: Poll) -> None:
    """Scaling first (it would add copies back), then each component; wait until gone."""
    for component in components:
        autoscale.disable_copies(aws, component)
        aws.sagemaker.delete_inference_component(InferenceComponentName=component)
    for component in components:
        wait_until_settled(
            lambda c=component: (
                describe_component(aws, c) or {"InferenceComponentStatus": "Deleted"}
            ),  # type: ignore[misc]
            "InferenceComponentStatus",
            COMPONENT_TRANSIENT,
            f"component {component}",
            poll,
            console,
        )
    if components:
        console.print(f"{len(components)} inference components deleted")
