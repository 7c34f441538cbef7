"""shadow, promote, stop-shadow, shadow-report: test a candidate model on a copy of live traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploy import config, multi_model, observability
from deploy import shadow_report as comparison
from deploy.commands.sources import model_environment, preflight_role
from deploy.commands.variant_flags import (
    ModelFlags,
    capture_uri,
    check_settings,
    endpoint_settings,
    new_model,
)
from deploy.errors import ConfigError, DeployError
from deploy.options import (
    DEFAULT_ENDPOINT,
    DEFAULT_PREFIX,
    Bucket,
    Endpoint,
    Environment,
    Image,
    KmsKey,
    PollInterval,
    Prefix,
    Profile,
    Region,
    RoleArn,
    Timeout,
    connect,
    guarded,
    out,
    poll,
    show,
)
from deploy.shadow import DEFAULT_SHADOW, ShadowPlan, promoted, shadow_of, stopped, with_shadow
from deploy.variant_metrics import Window
from deploy.variants import create_config, layout, serve

Minutes = Annotated[int, typer.Option(help="Compare over the last N minutes (1-1440).")]


@guarded
def shadow(
    candidate: Annotated[
        str,
        typer.Option(
            help="The candidate: artifact directory or model.tar.gz, or s3:// model data."
        ),
    ],
    percent: Annotated[
        float, typer.Option(help="Share of production's requests copied to the candidate (1-100).")
    ],
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    name: Annotated[str, typer.Option(help="The shadow variant's name.")] = DEFAULT_SHADOW,
    instance_type: Annotated[
        str | None, typer.Option(help="Candidate's instance type (default: production's).")
    ] = None,
    instance_count: Annotated[
        int | None, typer.Option(help="Candidate's instances (default: production's).")
    ] = None,
    image: Image = None,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    kms_key_id: KmsKey = None,
    env: Environment = None,
    role_arn: RoleArn = None,
    capture_percent: Annotated[
        int | None,
        typer.Option(help="Data capture % for label agreement (default: as the endpoint has it)."),
    ] = None,
    timeout: Timeout = 1800,
    poll_interval: PollInterval = 15,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Add the candidate as a shadow variant: it answers a copy of PERCENT% of requests, unseen."""
    config.resource_name(endpoint, "--endpoint")
    config.resource_name(name, "--name")
    if not 0 < percent <= 100:
        raise ConfigError("--percent must be above 0 and at most 100")
    if instance_type:
        config.instance_type(instance_type)
    if instance_count is not None:
        config.positive(instance_count, "--instance-count", 100)
    check_settings(capture_percent, None)
    role = config.role_arn(role_arn)
    waiting = poll(timeout, poll_interval)
    kind = "model-data" if candidate.startswith("s3://") else "artifact"
    flags = ModelFlags(image, bucket, prefix, False, kms_key_id, model_environment(env))
    source = flags.source(kind, candidate)
    aws = connect(region, profile)
    current = layout(aws, endpoint)
    if multi_model.endpoint_prefix(aws, endpoint) is not None:
        raise DeployError(
            f"endpoint {endpoint} is multi-model: SageMaker runs no shadow test on a multi-model "
            "endpoint; A/B test with `python -m deploy variants` instead"
        )
    preflight_role(aws, role)
    model = new_model(aws, endpoint, role, source)
    production, shadows = with_shadow(
        current, ShadowPlan(model, percent, name, instance_type, instance_count)
    )
    settings = endpoint_settings(
        current, capture_uri(bucket, prefix, endpoint), capture_percent, None
    )
    version = create_config(aws, endpoint, production, shadows, settings)
    serve(aws, out, waiting, endpoint, version)
    show(
        "shadow",
        f"{name} ({model}) gets a copy of {percent:g}% of {production[0]['VariantName']}'s requests",
    )
    if observability.existing_dashboards(aws, endpoint):
        observability.put_dashboard(aws, endpoint, [production[0]["VariantName"], name])
    if "DataCaptureConfig" not in settings:
        out.print(
            "data capture is off: the report compares metrics, not answers (--capture-percent)"
        )


def _replace(endpoint: str, timeout: float, poll_interval: float, region: str | None,
             profile: str | None, promote: bool) -> None:  # fmt: skip
    config.resource_name(endpoint, "--endpoint")
    waiting = poll(timeout, poll_interval)
    aws = connect(region, profile)
    current = layout(aws, endpoint)
    candidate = shadow_of(current)
    production = promoted(current) if promote else stopped(current)
    version = create_config(aws, endpoint, production, carried=current.carried())
    serve(aws, out, waiting, endpoint, version)
    variant = production[0]["VariantName"]
    if promote:
        show("promoted", f"{candidate['ModelName']} now serves {variant}; shadow removed")
    else:
        show("shadow stopped", f"{candidate['VariantName']} removed; {variant} unchanged")
    if observability.existing_dashboards(aws, endpoint):
        observability.put_dashboard(aws, endpoint, [variant])


@guarded
def promote(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    timeout: Timeout = 1800,
    poll_interval: PollInterval = 15,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Make the shadow's model the production variant (same variant name) and end the test."""
    _replace(endpoint, timeout, poll_interval, region, profile, promote=True)


@guarded
def stop_shadow(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    timeout: Timeout = 1800,
    poll_interval: PollInterval = 15,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Remove the shadow variant; production is left as it is."""
    _replace(endpoint, timeout, poll_interval, region, profile, promote=False)


@guarded
def shadow_report(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    minutes: Minutes = 60,
    plot: Annotated[
        Path | None, typer.Option(help="Also write the label distributions as a PNG here.")
    ] = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Candidate beside production: latency, error rate, predicted labels, label agreement."""
    config.resource_name(endpoint, "--endpoint")
    config.positive(minutes, "--minutes", 1440)
    aws = connect(region, profile)
    current = layout(aws, endpoint)
    candidate = shadow_of(current)["VariantName"]
    production = current.production[0]["VariantName"]
    report = comparison.gather(aws, current, production, candidate, Window.last(minutes))
    for table in comparison.tables(report):
        out.print(table)
    if plot is not None:
        show("plot", comparison.plot(report, plot))
