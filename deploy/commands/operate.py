"""autoscale, invoke, status, delete: running and retiring an endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deploy import autoscale as scaling
from deploy import config, multi_model, teardown
from deploy import invoke as runtime
from deploy.commands.async_flags import HostingInvokeFlags
from deploy.commands.flag_groups import grouped
from deploy.commands.variant_table import variants_table
from deploy.endpoint import describe_endpoint
from deploy.errors import ConfigError, DeployError
from deploy.hosting_modes import mode_of
from deploy.inference_components import components_of
from deploy.options import (
    DEFAULT_ENDPOINT,
    Endpoint,
    Profile,
    Region,
    connect,
    guarded,
    out,
    show,
)
from deploy.public_api import lifecycle
from deploy.public_api.clients import PublicClients
from deploy.variants import layout

Variant = Annotated[str, typer.Option(help="Production variant name.")]


@guarded
def autoscale(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    min_capacity: Annotated[int, typer.Option("--min", help="Fewest instances.")] = 1,
    max_capacity: Annotated[int, typer.Option("--max", help="Most instances.")] = 4,
    metric: Annotated[
        str,
        typer.Option(
            help="concurrency (per model copy, high resolution) or invocations (per instance per minute)."
        ),
    ] = "concurrency",
    target: Annotated[
        float | None,
        typer.Option(help="Target per instance (default 8 in flight, or 3000 per minute)."),
    ] = None,
    scale_in_cooldown: Annotated[
        int, typer.Option(help="Seconds after a scale-in before the next.")
    ] = 300,
    scale_out_cooldown: Annotated[
        int, typer.Option(help="Seconds after a scale-out before the next.")
    ] = 60,
    off: Annotated[bool, typer.Option("--off", help="Remove autoscaling instead.")] = False,
    variant: Variant = "AllTraffic",
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Target-tracking autoscaling for the endpoint's variant (or --off to remove it)."""
    config.resource_name(endpoint, "--endpoint")
    if metric not in scaling.METRICS:
        raise ConfigError(f"--metric must be one of {', '.join(scaling.METRICS)}")
    config.positive(min_capacity, "--min", 100)
    config.positive(max_capacity, "--max", 100)
    if min_capacity > max_capacity:
        raise ConfigError(f"--min {min_capacity} is above --max {max_capacity}")
    target = scaling.DEFAULT_TARGETS[metric] if target is None else target
    if target <= 0 or scale_in_cooldown < 0 or scale_out_cooldown < 0:
        raise ConfigError("--target must be positive and cooldowns not negative")
    aws = connect(region, profile)
    described = describe_endpoint(aws, endpoint)
    if described is None:
        raise DeployError(f"endpoint {endpoint} does not exist; deploy it first")
    if off:
        removed = scaling.disable(aws, endpoint, variant)
        show("autoscaling", "removed" if removed else "was not configured")
        return
    if described["EndpointStatus"] != "InService":
        raise DeployError(
            f"endpoint {endpoint} is {described['EndpointStatus']}; autoscale it once InService"
        )
    _check_instance_scaling(aws, endpoint, described["EndpointConfigName"], metric)
    arn = scaling.enable(
        aws,
        endpoint,
        variant,
        min_capacity,
        max_capacity,
        metric,
        target,
        scale_in_cooldown,
        scale_out_cooldown,
    )
    show(
        "autoscaling",
        f"{min_capacity}-{max_capacity} instances, {scaling.METRICS[metric]} target {target:g}",
    )
    show("policy", arn)


@guarded
@grouped(hosting=HostingInvokeFlags)
def invoke(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    text: Annotated[list[str] | None, typer.Option(help="Text to classify (repeatable).")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--file", help="Send this file as the body.")
    ] = None,
    content_type: Annotated[
        str, typer.Option(help="application/json, text/csv or application/jsonlines.")
    ] = "application/json",
    accept: Annotated[str, typer.Option(help="Response media type.")] = "application/json",
    variant: Annotated[
        str | None, typer.Option(help="Call this variant only (TargetVariant), not by weight.")
    ] = None,
    target_model: Annotated[
        str | None,
        typer.Option(
            help="Multi-model endpoint: the model (NAME or NAME.tar.gz under the prefix)."
        ),
    ] = None,
    hosting: HostingInvokeFlags = HostingInvokeFlags(),
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Call the endpoint through sagemaker-runtime; print the answer and the latency
    (`--async --input FILE`: through S3, waiting for the answer)."""
    config.resource_name(endpoint, "--endpoint")
    if variant is not None:
        config.resource_name(variant, "--variant")
    target = None if target_model is None else multi_model.target_model(target_model)
    if hosting.asynchronous:
        if target is not None:
            raise ConfigError("--target-model: InvokeEndpointAsync takes no TargetModel")
        if text or body_file:
            raise ConfigError("--async sends --input FILE, not --text or --file")
        request = hosting.request(endpoint, content_type, accept)
        hosting.run(connect(region, profile), request)
        return
    if bool(text) == bool(body_file):
        raise ConfigError("give --text (repeatable) or --file")
    if body_file is not None:
        if not body_file.is_file():
            raise ConfigError(f"--file {body_file}: no such file")
        body = body_file.read_bytes()
    else:
        body = runtime.body_for(text or [], content_type)
    aws = connect(region, profile)
    answer = runtime.invoke(
        aws, endpoint, body, content_type, accept, variant, hosting.component, target
    )
    out.print(answer.body, markup=False, soft_wrap=True)
    show("latency", f"{answer.latency_ms:.1f} ms (client side, variant {answer.variant or '?'})")


# What `autoscale` cannot do for each hosting mode, and where that mode scales instead.
_NOT_INSTANCE_SCALED = {
    "serverless": "a serverless endpoint has no instances; it scales on provisioned concurrency "
    "(`deploy --serverless --provisioned N`)",
    "inference-component": "an inference-component endpoint scales copies: `deploy "
    "--inference-component --min-copies/--max-copies`",
}


def _check_instance_scaling(aws: Any, endpoint: str, config_name: str, metric: str) -> None:
    """Refuse what Application Auto Scaling would refuse, or accept and never act on."""
    mode = mode_of(aws.sagemaker.describe_endpoint_config(EndpointConfigName=config_name))
    if mode in _NOT_INSTANCE_SCALED:
        raise ConfigError(f"autoscale: {_NOT_INSTANCE_SCALED[mode]}")
    if mode == "async":
        # No concurrency or invocations-per-instance metric for asynchronous endpoints.
        raise ConfigError(
            f"autoscale --metric {metric}: an asynchronous endpoint does not publish it; it "
            "scales on its backlog (`deploy --async --min-instances/--max-instances`)"
        )


def _capacity(variant: dict[str, Any]) -> str:
    """A variant's fleet: instances, or a serverless endpoint's memory and concurrency."""
    serverless = variant.get("ServerlessConfig")
    if serverless:
        return (
            f"serverless {serverless['MemorySizeInMB']} MB, "
            f"up to {serverless['MaxConcurrency']} concurrent"
        )
    return f"{variant['InstanceType']} x {variant.get('InitialInstanceCount', '?')}"


def _endpoint_table(aws: Any, endpoint: dict[str, Any]) -> Table:
    table = Table(title=f"endpoint {endpoint['EndpointName']}", show_header=False)
    table.add_row("status", endpoint["EndpointStatus"])
    if endpoint.get("FailureReason"):
        table.add_row("failure reason", endpoint["FailureReason"])
    table.add_row("config", endpoint["EndpointConfigName"])
    described = aws.sagemaker.describe_endpoint_config(
        EndpointConfigName=endpoint["EndpointConfigName"]
    )
    for variant in described["ProductionVariants"]:
        table.add_row("variant", f"{variant['VariantName']}: {_capacity(variant)}")
        if "ModelName" not in variant:  # capacity for inference components: no model of its own
            for component in components_of(aws, endpoint["EndpointName"]):
                table.add_row("component", component)
        else:
            model = aws.sagemaker.describe_model(ModelName=variant["ModelName"])
            container = model.get("PrimaryContainer", {})
            table.add_row("model", variant["ModelName"])
            table.add_row("image", container.get("Image") or container.get("ModelPackageName", "?"))
        target = scaling.current(aws, endpoint["EndpointName"], variant["VariantName"])
        table.add_row(
            "autoscaling", f"{target['MinCapacity']}-{target['MaxCapacity']}" if target else "off"
        )
    table.add_row("last modified", str(endpoint.get("LastModifiedTime", "")))
    return table


def models_table(models: list[multi_model.StoredModel], prefix: str) -> Table:
    """A multi-model endpoint's models: what `--target-model` can name."""
    table = Table("model", "target model", "bytes", "modified", title=f"models under {prefix}")
    for model in models:
        table.add_row(model.name, model.target, str(model.size), model.modified)
    if not models:
        table.add_row("(none yet)", "`python -m deploy models add NAME ARTIFACT`", "", "")
    return table


@guarded
def status(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    group: Annotated[
        str | None, typer.Option(help="Also list this model package group's versions.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print DescribeEndpoint as JSON.")
    ] = False,
    minutes: Annotated[
        int, typer.Option(help="Variants' invocations, errors and latency over this many minutes.")
    ] = 60,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Show the endpoint, each variant side by side (weight, instances, recent CloudWatch numbers)."""
    config.resource_name(endpoint, "--endpoint")
    config.positive(minutes, "--minutes", 1440)
    aws = connect(region, profile)
    described = describe_endpoint(aws, endpoint)
    if as_json:
        out.print_json(json.dumps(described, default=str))
    elif described is None:
        show("endpoint", f"{endpoint} does not exist")
    else:
        out.print(_endpoint_table(aws, described))
        out.print(variants_table(aws, layout(aws, endpoint), minutes))
        prefix = multi_model.endpoint_prefix(aws, endpoint)
        if prefix is not None:
            out.print(models_table(multi_model.listed(aws, prefix), prefix))
    if not as_json:
        urls = lifecycle.public_urls(PublicClients(aws), endpoint)
        for url in urls or []:
            show("public API", url)
        if urls is None:
            show("public API", "unknown (the caller may not list API Gateway APIs)")
    if group:
        packages = aws.sagemaker.list_model_packages(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
        )
        table = Table("version", "approval", "created", "arn", title=f"model packages in {group}")
        for item in packages["ModelPackageSummaryList"]:
            table.add_row(
                str(item.get("ModelPackageVersion", "")),
                item["ModelApprovalStatus"],
                str(item["CreationTime"]),
                item["ModelPackageArn"],
            )
        out.print(table)
    if described is None and not as_json:
        raise typer.Exit(1)


@guarded
def delete(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    images: Annotated[
        bool, typer.Option(help="Also delete the ECR images the models used.")
    ] = False,
    artifacts: Annotated[bool, typer.Option(help="Also delete the models' data in S3.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Delete the endpoint, its configs and models (and optionally images and model data)."""
    config.resource_name(endpoint, "--endpoint")
    aws = connect(region, profile)
    plan = teardown.make_plan(aws, endpoint)
    public = lifecycle.find(PublicClients(aws), endpoint)
    if plan.empty and public.empty:
        show("nothing to delete", endpoint)
        return
    out.print(
        f"will delete: endpoint {endpoint if plan.endpoint_exists else '(gone)'}, "
        f"{len(plan.configs)} configs, {len(plan.models)} models"
        + (f", {len(plan.images)} images" if images else "")
        + (f", {len(plan.data_uris)} model data locations" if artifacts else "")
        + ("" if public.empty else f", public API ({public.summary()})"),
        markup=False,
    )
    if not yes and not typer.confirm("proceed?", default=False):
        raise typer.Exit(1)
    lifecycle.unexpose(PublicClients(aws), public, out)  # first: it calls the endpoint
    teardown.execute(aws, plan, images, artifacts, out)
