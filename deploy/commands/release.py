"""push, upload, deploy, rollback: from a local image and artifact to a live endpoint."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import ClientError

from deploy import alarms, autoscale, config, ecr, invoke, observability, teardown
from deploy.aws import Aws
from deploy.commands.endpoint_flags import EndpointFlags, Fleet
from deploy.commands.flag_groups import grouped
from deploy.commands.hosting_flags import HostingFlags
from deploy.commands.rollout_flags import RolloutFlags
from deploy.commands.sources import (
    SourceFlags,
    SourceOptions,
    UncompressedOpt,
    preflight_role,
    require_image,
    resolve_source,
    upload_artifact,
)
from deploy.endpoint import EndpointDeployer, EndpointSpec, ModelSource, describe_endpoint
from deploy.errors import ConfigError, DeployError, explain
from deploy.hosting_modes import Asynchronous, Components, Hosting, MultiModel, Serverless
from deploy.inference_components import ComponentDeployer, component_name, prune_models
from deploy.options import (
    DEFAULT_ENDPOINT,
    DEFAULT_PREFIX,
    DEFAULT_REPOSITORY,
    Bucket,
    Endpoint,
    KmsKey,
    PollInterval,
    Prefix,
    Profile,
    Region,
    RegistryHost,
    Repository,
    RoleArn,
    Timeout,
    connect,
    guarded,
    out,
    poll,
    show,
)
from deploy.storage import ModelData
from deploy.waiting import Poll


@guarded
def push(
    local_image: Annotated[
        str, typer.Argument(help="Local image to push, e.g. headline-serve:latest.")
    ],
    tag: Annotated[
        str | None, typer.Option(help="Tag in ECR (default: sha-<image ID>, one per build).")
    ] = None,
    repository: Repository = DEFAULT_REPOSITORY,
    immutable_tags: Annotated[bool, typer.Option(help="Make tags immutable.")] = False,
    keep_images: Annotated[int, typer.Option(help="Lifecycle policy: images to keep.")] = 10,
    registry_host: RegistryHost = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Create the ECR repository if needed (scan on push, lifecycle policy) and push the image."""
    config.repository(repository)
    if tag is not None:
        config.image_tag(tag)
    config.positive(keep_images, "--keep-images", 1000)
    aws = connect(region, profile)
    pushed = ecr.push(aws, local_image, repository, tag, immutable_tags, keep_images, registry_host)
    show("image", pushed.uri)
    show("digest", pushed.digest)


@guarded
def upload(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory or model.tar.gz.")],
    bucket: Bucket = None,
    prefix: Prefix = DEFAULT_PREFIX,
    uncompressed: UncompressedOpt = False,
    kms_key_id: KmsKey = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Validate the artifact and put it in S3 (encrypted, checksummed, versioned key)."""
    bucket_name = config.bucket(bucket)
    aws = connect(region, profile)
    data, manifest = upload_artifact(aws, artifact, bucket_name, prefix, uncompressed, kms_key_id)
    show("model version", manifest.model_version)
    show("model data", data.uri)


@guarded
@grouped(
    source=SourceFlags, fleet=Fleet, options=EndpointFlags, watch=RolloutFlags, hosting=HostingFlags
)
def deploy(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    source: SourceFlags = SourceFlags(),
    local_image: Annotated[
        str | None, typer.Option(help="Push this local image to ECR first and serve it.")
    ] = None,
    repository: Repository = DEFAULT_REPOSITORY,
    registry_host: RegistryHost = None,
    role_arn: RoleArn = None,
    fleet: Fleet = Fleet(),
    options: EndpointFlags = EndpointFlags(),
    watch: RolloutFlags = RolloutFlags(),
    hosting: HostingFlags = HostingFlags(),
    keep_versions: Annotated[
        int, typer.Option(help="Versions (config + model) to keep for rollback; older are deleted.")
    ] = 3,
    smoke_text: Annotated[
        str | None,
        typer.Option(help="Invoke with this text once InService; roll back an update if it fails."),
    ] = None,
    timeout: Timeout = 1800,
    poll_interval: PollInterval = 15,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Create the endpoint, or move it to a new version blue/green; wait until InService."""
    config.resource_name(endpoint, "--endpoint")
    role = config.role_arn(role_arn)
    config.positive(keep_versions, "--keep-versions", 100)
    waiting = poll(timeout, poll_interval)
    mode = hosting.hosting(
        endpoint, fleet, source.bucket, source.prefix, source.artifact, source.kms_key_id
    )
    spec = _hosted(
        replace(
            options.spec(endpoint, fleet, source.bucket, source.prefix),
            rollout=watch.rollout().check(fleet.instance_count, timeout),
            metrics_frequency_s=watch.metrics_frequency or None,
        ),
        mode,
        smoke_text,
    )
    if local_image and source.image:
        raise ConfigError("give --image or --local-image, not both")
    config.repository(repository)
    aws = connect(region, profile)  # validates the region; no call yet
    multi = mode if isinstance(mode, MultiModel) else None
    checked = _prefix_only(source, multi.models_prefix) if multi else source.checked()
    preflight_role(aws, role)
    if local_image:
        pushed = ecr.push(aws, local_image, repository, registry_host=registry_host)
        show("image", f"{pushed.uri} ({pushed.digest})")
        checked = checked.with_pushed_image(pushed.uri)
    if multi:
        model = ModelSource(
            image=require_image(aws, checked.image, checked.image_pushed),
            data=ModelData(multi.models_prefix, compressed=True),
            environment=checked.environment,
            multi_model=True,
        )
        show("models prefix", f"{multi.models_prefix} (add models: `python -m deploy models add`)")
    else:
        model = resolve_source(aws, checked)
    # The mode's limits under the user's --env (which wins).
    model = replace(
        model,
        environment=mode.environment() | (model.environment or {}),
        metrics_frequency_s=spec.metrics_frequency_s,
    )
    if not isinstance(mode, Components):
        spec = _watched(aws, spec, watch)

    def smoke(name: str, component: str | None = None) -> None:
        if smoke_text is None:
            return
        body = invoke.body_for([smoke_text], "application/json")
        try:
            answer = invoke.invoke(
                aws, name, body, "application/json", "application/json", component=component
            )
        except ClientError as exc:  # so that a failing call also rolls the update back
            raise DeployError(explain(exc)) from exc
        try:
            json.loads(answer.body)
        except ValueError:
            raise DeployError(f"smoke test answer is not JSON: {answer.body[:120]!r}") from None
        out.print(
            f"smoke test passed in {answer.latency_ms:.0f} ms: {answer.body[:200]}", markup=False
        )

    if isinstance(mode, Components):
        _deploy_component(aws, spec, model, role, mode, waiting, keep_versions)
        smoke(endpoint, component_name(endpoint))
        return
    final = EndpointDeployer(aws, out, waiting).deploy(spec, model, role, smoke)
    show("endpoint", f"{endpoint} InService on {final['EndpointConfigName']}")
    if isinstance(mode, Asynchronous) and mode.autoscale:
        autoscale.enable_backlog(aws, endpoint, spec.variant_name, mode)
        show(
            "autoscaling",
            f"{mode.min_instances}-{mode.max_instances} instances on the backlog "
            f"(target {mode.backlog_target:g} per instance)"
            + (", back from zero when requests wait" if mode.min_instances == 0 else ""),
        )
    pruned = teardown.prune(aws, endpoint, keep_versions, final["EndpointConfigName"])
    if pruned:
        out.print(f"removed {len(pruned)} old versions: {', '.join(pruned)}", markup=False)


def _prefix_only(source: SourceFlags, models_prefix: str) -> SourceOptions:
    """A multi-model endpoint's only model data is its prefix: no single model to upload.

    Checked as `--model-data PREFIX` would be (image, environment)."""
    given = [flag for flag, value in (("--artifact", source.artifact),
             ("--model-data", source.model_data), ("--package", source.package),
             ("--uncompressed", source.uncompressed)) if value]  # fmt: skip
    if given:
        raise ConfigError(
            f"--multi-model takes no {given[0]}: its models are the tarballs under "
            "--models-prefix (`python -m deploy models add NAME ARTIFACT`)"
        )
    return replace(source, model_data=models_prefix).checked()


def _hosted(spec: EndpointSpec, mode: Hosting, smoke_text: str | None) -> EndpointSpec:
    """The spec for its hosting mode; refuses what SageMaker would refuse for the mode."""
    if isinstance(mode, MultiModel) and smoke_text is not None:
        raise ConfigError("--smoke-text: a multi-model endpoint answers for a model; test it "
                          "with `python -m deploy invoke --target-model NAME`")  # fmt: skip
    if isinstance(mode, Asynchronous) and smoke_text is not None:
        raise ConfigError("--smoke-text calls InvokeEndpoint; test an --async endpoint with "
                          "`python -m deploy invoke --async --input FILE`")  # fmt: skip
    if isinstance(mode, Serverless):
        if spec.capture_percent:
            raise ConfigError("--capture-percent: serverless endpoints have no data capture")
        # No detailed observability (no instances to scrape), so no server-health alarm.
        return replace(spec, hosting=mode, metrics_frequency_s=None)
    if isinstance(mode, Components):
        if spec.capture_percent:
            raise ConfigError("--capture-percent: not with --inference-component")
        return replace(spec, hosting=mode, metrics_frequency_s=None)
    return replace(spec, hosting=mode)


def _deploy_component(
    aws: Aws,
    spec: EndpointSpec,
    model: ModelSource,
    role: str,
    mode: Components,
    waiting: Poll,
    keep_versions: int,
) -> None:
    endpoint, component = ComponentDeployer(aws, out, waiting).deploy(spec, model, role, mode)
    name = component["InferenceComponentName"]
    copy = mode.compute()
    show(
        "component",
        f"{name} InService: {mode.copies} copies of {component['Specification']['ModelName']}, "
        f"{copy['NumberOfCpuCoresRequired']} cores and {copy['MinMemoryRequiredInMb']} MB each",
    )
    if mode.autoscale:
        autoscale.enable_copies(aws, name, mode)
        show(
            "autoscaling",
            f"{mode.min_copies}-{mode.max_copies} copies on {mode.invocations_target:g} "
            f"invocations per copy a minute; instances {mode.min_instances}-{mode.max_instances}",
        )
    pruned = prune_models(
        aws, spec.endpoint_name, keep_versions, component["Specification"]["ModelName"]
    )
    if pruned:
        out.print(f"removed {len(pruned)} old models: {', '.join(pruned)}", markup=False)
    show("endpoint", f"{spec.endpoint_name} {endpoint['EndpointStatus']}")


def _watched(aws: Aws, spec: EndpointSpec, watch: RolloutFlags) -> EndpointSpec:
    """Alarms made for the endpoint unless the user named theirs, and its dashboard."""
    if watch.dashboard:
        show(
            "dashboard",
            observability.put_dashboard(
                aws, spec.endpoint_name, [spec.variant_name], spec.hosting.mode
            ),
        )
    if spec.rollback_alarms:
        return spec
    made = alarms.ensure(
        aws, spec.endpoint_name, spec.variant_name, watch.limits(), bool(spec.metrics_frequency_s)
    )
    show("rollback alarms", ", ".join(made))
    return replace(spec, rollback_alarms=made)


@guarded
def rollback(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    to: Annotated[
        str | None,
        typer.Option(help="Endpoint config to return to (default: the one before the current)."),
    ] = None,
    timeout: Timeout = 1800,
    poll_interval: PollInterval = 15,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Move the endpoint back to an earlier endpoint config."""
    config.resource_name(endpoint, "--endpoint")
    waiting = poll(timeout, poll_interval)
    aws = connect(region, profile)
    current = describe_endpoint(aws, endpoint)
    if current is None:
        raise DeployError(f"endpoint {endpoint} does not exist")
    target = to or previous_config(aws, endpoint, current["EndpointConfigName"])
    EndpointDeployer(aws, out, waiting).rollback(endpoint, target)
    show("endpoint", f"{endpoint} InService on {target}")


def previous_config(aws: Aws, endpoint: str, current: str) -> str:
    """The newest of our configs for this endpoint created before the current one."""
    ours = teardown.versions(aws, endpoint)
    older = ours[ours.index(current) + 1 :] if current in ours else []
    if not older:
        raise DeployError(f"endpoint {endpoint} has no earlier config to roll back to")
    return older[0]
