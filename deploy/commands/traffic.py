"""variants, traffic: A/B tests with weighted production variants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deploy import config, observability
from deploy.commands.sources import model_environment, preflight_role
from deploy.commands.variant_flags import (
    VARIANT_HELP,
    ModelFlags,
    capture_uri,
    check_settings,
    endpoint_settings,
    new_model,
    parse_variants,
)
from deploy.endpoint import describe_endpoint
from deploy.errors import ConfigError, DeployError
from deploy.options import (
    DEFAULT_ENDPOINT,
    DEFAULT_INSTANCE,
    DEFAULT_PREFIX,
    Bucket,
    Endpoint,
    Environment,
    Image,
    InstanceType,
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
from deploy.variants import (
    Layout,
    create_config,
    layout,
    production_variant,
    serve,
    set_weights,
    shares,
)

CapturePercent = Annotated[
    int | None, typer.Option(help="Data capture sampling % (default: as the endpoint has it).")
]
MetricsFrequency = Annotated[
    int, typer.Option(help="Detailed observability: seconds between publications (0 = off).")
]


def weights_table(current: Layout) -> Table:
    """Production variants' live weights as shares of traffic, and their instances."""
    live = {v["VariantName"]: current.live(v["VariantName"]) for v in current.production}
    weights = {name: float(summary.get("CurrentWeight", 0.0)) for name, summary in live.items()}
    table = Table("variant", "model", "instances", "weight", "share", title="traffic")
    for variant in current.production:
        name = variant["VariantName"]
        table.add_row(
            name,
            variant["ModelName"],
            f"{variant.get('InstanceType', '?')} x {live[name].get('CurrentInstanceCount', '?')}",
            f"{weights[name]:g}",
            f"{shares(weights)[name]:.1f}%",
        )
    return table


@guarded
def variants(
    variant: Annotated[list[str], typer.Option("--variant", help=VARIANT_HELP)],
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    image: Image = None,
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    uncompressed: Annotated[bool, typer.Option(help="Upload artifacts uncompressed.")] = False,
    kms_key_id: KmsKey = None,
    env: Environment = None,
    role_arn: RoleArn = None,
    instance_type: InstanceType = DEFAULT_INSTANCE,
    capture_percent: CapturePercent = None,
    metrics_frequency: MetricsFrequency = 60,
    timeout: Timeout = 1800,
    poll_interval: PollInterval = 15,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Serve two or more production variants (models or instance types) with initial weights."""
    config.resource_name(endpoint, "--endpoint")
    config.instance_type(instance_type)
    choices = parse_variants(variant)
    check_settings(capture_percent, metrics_frequency)
    waiting = poll(timeout, poll_interval)
    needs_role = any(choice.source != "current" for choice in choices)
    role = config.role_arn(role_arn) if needs_role else ""
    flags = ModelFlags(image, bucket, prefix, uncompressed, kms_key_id, model_environment(env))
    sources = {c.name: flags.source(c.source, c.value) for c in choices if c.source != "current"}
    aws = connect(region, profile)
    current = layout(aws, endpoint) if describe_endpoint(aws, endpoint) else None
    if needs_role:
        preflight_role(aws, role)
    production = []
    for choice in choices:
        if choice.source == "current":
            if current is None:
                raise DeployError(f"current={choice.value}: endpoint {endpoint} does not exist")
            serving = current.variant(choice.value)
            model = serving["ModelName"]
            kind = choice.instance_type or serving.get("InstanceType", instance_type)
        else:
            model = new_model(aws, endpoint, role, sources[choice.name])
            kind = choice.instance_type or instance_type
        production.append(
            production_variant(choice.name, model, kind, choice.instances, choice.weight)
        )
        show(
            "variant",
            f"{choice.name}: {model} on {kind} x {choice.instances}, weight {choice.weight:g}",
        )
    settings = endpoint_settings(
        current, capture_uri(bucket, prefix, endpoint), capture_percent, metrics_frequency
    )
    name = create_config(aws, endpoint, production, carried=settings)
    serve(aws, out, waiting, endpoint, name)
    show("endpoint", f"{endpoint} InService on {name}")
    show("dashboard", observability.put_dashboard(aws, endpoint, [c.name for c in choices]))
    out.print(weights_table(layout(aws, endpoint)))


@guarded
def traffic(
    variant: Annotated[str, typer.Option(help="Production variant whose weight changes.")],
    weight: Annotated[float, typer.Option(help="Its new weight (shares are weight / sum).")],
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    instances: Annotated[
        int | None, typer.Option(help="Also set its instance count (default: unchanged).")
    ] = None,
    timeout: Timeout = 1800,
    poll_interval: PollInterval = 15,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Shift traffic between production variants in place (UpdateEndpointWeightsAndCapacities)."""
    config.resource_name(endpoint, "--endpoint")
    config.resource_name(variant, "--variant")
    if weight < 0:
        raise ConfigError("--weight must not be negative")
    if instances is not None:
        config.positive(instances, "--instances", 100)
    waiting = poll(timeout, poll_interval)
    aws = connect(region, profile)
    current = layout(aws, endpoint)
    if current.endpoint["EndpointStatus"] != "InService":
        raise DeployError(f"endpoint {endpoint} is {current.endpoint['EndpointStatus']}")
    if variant not in {v["VariantName"] for v in current.production}:
        current.variant(variant)  # names the variants there are
        raise DeployError(
            f"{variant} is the shadow variant: its share is set by `deploy shadow --percent`"
        )
    others = sum(
        float(current.live(v["VariantName"]).get("CurrentWeight", 0.0))
        for v in current.production
        if v["VariantName"] != variant
    )
    if weight == 0 and others == 0:
        raise DeployError("every production variant would have weight 0: no variant left to serve")
    desired: dict[str, object] = {"VariantName": variant, "DesiredWeight": weight}
    if instances is not None:
        desired["DesiredInstanceCount"] = instances
    set_weights(aws, out, waiting, endpoint, [desired])
    out.print(weights_table(layout(aws, endpoint)))
