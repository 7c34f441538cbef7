"""What `variants` and `shadow` share: a variant as typed on the command line, and turning a
model source into a SageMaker model named after the endpoint (so `delete` removes it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import capture, config, names
from deploy.aws import Aws
from deploy.commands.sources import SourceOptions, resolve_source
from deploy.endpoint import create_model
from deploy.errors import ConfigError
from deploy.observability import FREQUENCIES, metrics_config
from deploy.variants import MAX_PRODUCTION_VARIANTS, Layout

SOURCE_KEYS = ("artifact", "model-data", "package", "current")
OPTION_KEYS = ("weight", "instance-type", "instances")
VARIANT_HELP = (
    "name=NAME,SOURCE[,weight=W][,instance-type=T][,instances=N], SOURCE one of artifact=PATH, "
    "model-data=S3_URI, package=GROUP[/VERSION] or current=VARIANT (the model that variant "
    "serves now). Repeatable: 2-10 variants."
)


@dataclass(frozen=True)
class VariantChoice:
    name: str
    source: str  # one of SOURCE_KEYS
    value: str
    weight: float = 1.0
    instance_type: str | None = None
    instances: int = 1


def parse_variant(text: str) -> VariantChoice:
    """`name=A,artifact=artifacts/a,weight=0.9` -> VariantChoice, checked."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not value or key in fields:
            raise ConfigError(f"--variant {text!r}: expected key=value pairs, each key once")
        if key not in ("name", *SOURCE_KEYS, *OPTION_KEYS):
            raise ConfigError(f"--variant {text!r}: unknown key {key!r}")
        fields[key] = value
    sources = [key for key in SOURCE_KEYS if key in fields]
    if "name" not in fields or len(sources) != 1:
        raise ConfigError(
            f"--variant {text!r}: give name= and exactly one of {', '.join(SOURCE_KEYS)}"
        )
    name = config.resource_name(fields["name"], "--variant name")
    try:
        weight = float(fields.get("weight", "1"))
        instances = int(fields.get("instances", "1"))
    except ValueError:
        raise ConfigError(f"--variant {text!r}: weight is a number, instances a count") from None
    if weight < 0:
        raise ConfigError(f"--variant {text!r}: weight must not be negative")
    config.positive(instances, f"--variant {name} instances", 100)
    instance_type = fields.get("instance-type")
    if instance_type:
        config.instance_type(instance_type)
    return VariantChoice(name, sources[0], fields[sources[0]], weight, instance_type, instances)


def parse_variants(texts: list[str]) -> list[VariantChoice]:
    choices = [parse_variant(text) for text in texts]
    if not 2 <= len(choices) <= MAX_PRODUCTION_VARIANTS:
        raise ConfigError(
            f"give 2-{MAX_PRODUCTION_VARIANTS} --variant flags (got {len(choices)}); "
            "one model is `deploy deploy`"
        )
    if len({c.name for c in choices}) != len(choices):
        raise ConfigError("--variant names must be unique")
    if not sum(c.weight for c in choices):
        raise ConfigError("at least one --variant needs a weight above 0")
    return choices


@dataclass(frozen=True)
class ModelFlags:
    """Where a new variant's model data goes, and how its container runs."""

    image: str | None
    bucket: str | None
    prefix: str
    uncompressed: bool
    kms_key_id: str | None
    environment: dict[str, str]

    def source(self, kind: str, value: str) -> SourceOptions:
        return SourceOptions(
            artifact=Path(value) if kind == "artifact" else None,
            model_data=value if kind == "model-data" else None,
            package=value if kind == "package" else None,
            image=self.image,
            bucket=self.bucket,
            prefix=self.prefix,
            uncompressed=self.uncompressed,
            kms_key_id=self.kms_key_id,
            environment=self.environment,
        )


def new_model(aws: Aws, endpoint: str, role: str, source: SourceOptions) -> str:
    """Upload if needed and create a model named `versioned(endpoint)`; returns its name."""
    return create_model(aws, names.versioned(endpoint), role, resolve_source(aws, source), endpoint)


def check_settings(capture_percent: int | None, metrics_frequency: int | None) -> None:
    """The endpoint-level flags, checked before any call."""
    if capture_percent is not None and not 0 <= capture_percent <= 100:
        raise ConfigError("--capture-percent must be between 0 and 100")
    if metrics_frequency and metrics_frequency not in FREQUENCIES:
        raise ConfigError(
            f"--metrics-frequency must be one of {', '.join(map(str, FREQUENCIES))}, or 0"
        )


def endpoint_settings(
    layout: Layout | None,
    capture_uri: str | None,
    capture_percent: int | None,
    metrics_frequency: int | None,
) -> dict[str, Any]:
    """Data capture and MetricsConfig: what the flags say, else what the endpoint has now."""
    settings = layout.carried() if layout else {}
    if capture_percent is not None:
        settings.pop("DataCaptureConfig", None)
        if capture_percent:
            if capture_uri is None:
                raise ConfigError("--capture-percent needs --bucket for the captured data")
            settings["DataCaptureConfig"] = capture.capture_config(capture_uri, capture_percent)
    if metrics_frequency is not None:  # 0 is sent as "off": a new config defaults to on
        settings["MetricsConfig"] = metrics_config(metrics_frequency)
    return settings


def capture_uri(bucket: str | None, prefix: str, endpoint: str) -> str | None:
    """Where `deploy` captures: s3://BUCKET/PREFIX/capture/ENDPOINT."""
    return f"s3://{bucket}/{prefix.strip('/')}/capture/{endpoint}" if bucket else None
