"""`deploy`'s hosting-mode flags (a flag group, see `flag_groups`): instances by default, or
`--serverless`, `--async` or `--inference-component`, each checked against SageMaker's rules
before any AWS call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from deploy import config
from deploy.commands.endpoint_flags import Fleet
from deploy.component_sizing import copy_memory_mb, cpu_graph_mb
from deploy.errors import ConfigError
from deploy.hosting_modes import (
    GPU_INSTANCE,
    Asynchronous,
    Components,
    Hosting,
    MultiModel,
    RealTime,
    Serverless,
)
from deploy.multi_model import default_prefix, prefix_uri


@dataclass(frozen=True)
class HostingFlags:
    serverless: Annotated[
        bool, typer.Option("--serverless", help="Serverless: pay per request, CPU only.")
    ] = False
    memory: Annotated[
        int | None, typer.Option(help="Serverless: memory in MB (1024-6144, 1 GB steps).")
    ] = None
    max_concurrency: Annotated[
        int | None, typer.Option(help="Serverless: concurrent invocations (1-200, default 20).")
    ] = None
    provisioned: Annotated[
        int | None, typer.Option(help="Serverless: provisioned (warm) concurrency.")
    ] = None
    asynchronous: Annotated[
        bool, typer.Option("--async", help="Asynchronous: S3 in and out, scales to zero.")
    ] = False
    output: Annotated[
        str | None,
        typer.Option(help="Async: s3:// prefix for answers (default PREFIX/async/ENDPOINT/)."),
    ] = None
    sns_success: Annotated[str | None, typer.Option(help="Async: SNS topic ARN on success.")] = None
    sns_error: Annotated[str | None, typer.Option(help="Async: SNS topic ARN on failure.")] = None
    max_concurrent: Annotated[
        int | None, typer.Option(help="Async: concurrent invocations per instance.")
    ] = None
    max_input_mb: Annotated[
        int, typer.Option(help="Async: largest input the server accepts, MB (at most 1024).")
    ] = 1024
    backlog_target: Annotated[
        float, typer.Option(help="Async autoscaling: queued requests per instance.")
    ] = 5.0
    inference_component: Annotated[
        bool,
        typer.Option("--inference-component", help="The model as a component on a shared fleet."),
    ] = False
    copies: Annotated[int, typer.Option(help="Component: copies to start with.")] = 1
    cores_per_copy: Annotated[int, typer.Option(help="Component: CPU cores per copy.")] = 1
    memory_per_copy: Annotated[
        int | None,
        typer.Option(help="Component: MB per copy (default: measured from the artifact)."),
    ] = None
    min_copies: Annotated[
        int, typer.Option(help="Component: fewest copies (0 scales to zero).")
    ] = 0
    max_copies: Annotated[int, typer.Option(help="Component: most copies.")] = 4
    invocations_per_copy: Annotated[
        float, typer.Option(help="Component autoscaling: invocations per copy per minute.")
    ] = 1000.0
    min_instances: Annotated[
        int, typer.Option(help="Async / component: fewest instances (0 scales to zero).")
    ] = 0
    max_instances: Annotated[int, typer.Option(help="Async / component: most instances.")] = 4
    autoscaling: Annotated[
        bool, typer.Option(help="Async / component: set up autoscaling (scale to zero).")
    ] = True
    multi_model: Annotated[
        bool,
        typer.Option(
            "--multi-model", help="Many models in one container (CPU), loaded by TargetModel."
        ),
    ] = False
    models_prefix: Annotated[
        str | None,
        typer.Option(
            help="Multi-model: s3:// prefix of the models (default PREFIX/models/ in the bucket).",
        ),
    ] = None

    def __post_init__(self) -> None:
        if self.multi_model:
            self._check_multi_model()
        chosen = [
            flag
            for flag, on in (
                ("--serverless", self.serverless),
                ("--async", self.asynchronous),
                ("--inference-component", self.inference_component),
            )
            if on
        ]
        if len(chosen) > 1:
            raise ConfigError(f"choose one hosting mode, not {' and '.join(chosen)}")
        stray = [
            flag
            for flag, value, mode in (
                ("--memory", self.memory, self.serverless),
                ("--max-concurrency", self.max_concurrency, self.serverless),
                ("--provisioned", self.provisioned, self.serverless),
                ("--output", self.output, self.asynchronous),
                ("--sns-success", self.sns_success, self.asynchronous),
                ("--sns-error", self.sns_error, self.asynchronous),
                ("--max-concurrent", self.max_concurrent, self.asynchronous),
                ("--memory-per-copy", self.memory_per_copy, self.inference_component),
            )
            if value is not None and not mode
        ]
        if stray:
            raise ConfigError(f"{stray[0]} needs its hosting mode (--serverless, --async or "
                              "--inference-component)")  # fmt: skip
        if self.output is not None:
            config.s3_uri(self.output, "--output")

    def _check_multi_model(self) -> None:
        """What SageMaker does not host with a multi-model container, refused in one line."""
        for flag, on, why in (
            ("--serverless", self.serverless,
             "serverless inference does not support multi-model endpoints (AWS docs: "
             "\"Serverless Inference\", feature exclusions)"),
            ("--async", self.asynchronous,
             "InvokeEndpointAsync has no TargetModel, so an asynchronous endpoint cannot "
             "choose a model"),
            ("--inference-component", self.inference_component,
             "an inference component's container has no Mode=MultiModel; components are "
             "the other way to many models on one fleet (one component per model)"),
        ):  # fmt: skip
            if on:
                raise ConfigError(f"--multi-model with {flag}: {why}")
        if self.models_prefix is not None:
            prefix_uri(self.models_prefix)

    def hosting(
        self,
        endpoint: str,
        fleet: Fleet,
        bucket: str | None,
        prefix: str,
        artifact: Path | None,
        kms_key_id: str | None,
    ) -> Hosting:
        """The checked hosting mode; still no AWS call."""
        if self.multi_model:
            if GPU_INSTANCE.match(fleet.instance_type):
                raise ConfigError(
                    f"--multi-model on {fleet.instance_type}: SageMaker hosts multi-model "
                    "endpoints of our own container on CPU instances only (GPU ones need "
                    "its Triton container); on GPU use --inference-component, one per model"
                )
            return MultiModel(self.models_prefix or default_prefix(config.bucket(bucket), prefix))
        if self.models_prefix is not None:
            raise ConfigError("--models-prefix needs --multi-model")
        if self.serverless:
            if GPU_INSTANCE.match(fleet.instance_type) or fleet.instance_count != 1:
                raise ConfigError(
                    "--serverless takes no --instance-type or --instance-count: serverless "
                    "endpoints run on CPU capacity SageMaker manages (no GPU)"
                )
            return Serverless(
                2048 if self.memory is None else self.memory,
                20 if self.max_concurrency is None else self.max_concurrency,
                self.provisioned,
            )
        if self.asynchronous:
            output = self.output
            if output is None:
                output = f"s3://{config.bucket(bucket)}/{prefix.strip('/')}/async/{endpoint}/"
            output = output.rstrip("/") + "/"
            return Asynchronous(
                output_uri=f"{output}output",
                failure_uri=f"{output}failure",
                success_topic=self.sns_success,
                error_topic=self.sns_error,
                max_concurrent=self.max_concurrent,
                max_input_mb=self.max_input_mb,
                kms_key_id=kms_key_id,
                autoscale=self.autoscaling,
                min_instances=self.min_instances,
                max_instances=self.max_instances,
                backlog_target=self.backlog_target,
            )
        if self.inference_component:
            if GPU_INSTANCE.match(fleet.instance_type):
                raise ConfigError(
                    "--inference-component sizes CPU copies; use a CPU --instance-type"
                )
            memory = self.memory_per_copy
            if memory is None:
                if artifact is None:
                    raise ConfigError(
                        "--inference-component needs --memory-per-copy unless --artifact is "
                        "given (the copy is sized from the artifact's CPU graph)"
                    )
                memory = copy_memory_mb(cpu_graph_mb(artifact), self.cores_per_copy)
            return Components(
                copies=self.copies,
                cores_per_copy=self.cores_per_copy,
                memory_per_copy_mb=memory,
                min_copies=self.min_copies,
                max_copies=self.max_copies,
                min_instances=self.min_instances,
                max_instances=self.max_instances,
                invocations_target=self.invocations_per_copy,
                autoscale=self.autoscaling,
            )
        return RealTime()
