"""How an endpoint is hosted: instances (the default), serverless, asynchronous, or inference
components on a shared fleet. Each mode is checked against SageMaker's rules when made, before
any AWS call, and says what the serving container's environment needs for it.

The environment is where the server learns its limits: a serverless endpoint's memory
(`SERVE_MEMORY_MB`, which caps the automatic workers) and 4 MB payloads; an asynchronous
endpoint's large streamed bodies (`SERVE_MAX_STREAM_MB`) and hour-long requests; a component
copy's cores and memory (`SERVE_WORKERS`, `SERVE_MEMORY_MB`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from deploy.errors import ConfigError

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
SERVERLESS_PAYLOAD_MB = 4
ASYNC_MAX_INPUT_MB = 1024  # SageMaker reads asynchronous inputs of up to 1 GB from S3
ASYNC_MAX_SECONDS = 3600  # and lets one request run up to an hour
GPU_INSTANCE = re.compile(r"^ml\.(g\d|p\d|inf\d|trn\d)")
SNS_TOPIC = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")


@dataclass(frozen=True)
class RealTime:
    """Instances that serve (and bill) around the clock."""

    mode = "real-time"

    def environment(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class Serverless:
    """Pay per request: SageMaker starts containers of `memory_mb` on demand, CPU only."""

    memory_mb: int
    max_concurrency: int
    provisioned: int | None = None
    mode = "serverless"

    def __post_init__(self) -> None:
        if self.memory_mb not in SERVERLESS_MEMORY_MB:
            raise ConfigError(
                f"--memory {self.memory_mb}: serverless memory is 1024-6144 MB in 1 GB steps "
                f"({', '.join(map(str, SERVERLESS_MEMORY_MB))})"
            )
        if not 1 <= self.max_concurrency <= SERVERLESS_MAX_CONCURRENCY:
            raise ConfigError(
                f"--max-concurrency {self.max_concurrency}: must be 1-{SERVERLESS_MAX_CONCURRENCY}"
            )
        if self.provisioned is not None and not 1 <= self.provisioned <= self.max_concurrency:
            raise ConfigError(
                f"--provisioned {self.provisioned}: must be 1 to --max-concurrency "
                f"({self.max_concurrency})"
            )

    def config(self) -> dict[str, Any]:
        """The variant's `ServerlessConfig`."""
        config: dict[str, Any] = {
            "MemorySizeInMB": self.memory_mb,
            "MaxConcurrency": self.max_concurrency,
        }
        if self.provisioned:
            config["ProvisionedConcurrency"] = self.provisioned
        return config

    def environment(self) -> dict[str, str]:
        # The server sizes its workers to the memory (no cgroup limit is visible to rely on) and
        # refuses what the serverless front end would refuse anyway, with its own clear 413.
        return {
            "SERVE_MEMORY_MB": str(self.memory_mb),
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(SERVERLESS_PAYLOAD_MB),
            "SERVE_MAX_STREAM_MB": str(SERVERLESS_PAYLOAD_MB),
        }


@dataclass(frozen=True)
class Asynchronous:
    """Requests queued by SageMaker, inputs read from and answers written to S3; the fleet
    scales on the queue's backlog per instance, down to zero when it is empty."""

    output_uri: str
    failure_uri: str
    success_topic: str | None = None
    error_topic: str | None = None
    max_concurrent: int | None = None  # per instance; SageMaker chooses when unset
    max_input_mb: int = ASYNC_MAX_INPUT_MB
    kms_key_id: str | None = None
    autoscale: bool = True
    min_instances: int = 0
    max_instances: int = 4
    backlog_target: float = 5.0  # queued requests per instance
    mode = "async"

    def __post_init__(self) -> None:
        for flag, topic in (
            ("--sns-success", self.success_topic),
            ("--sns-error", self.error_topic),
        ):
            if topic is not None and not SNS_TOPIC.match(topic):
                raise ConfigError(f"{flag} {topic!r} is not an SNS topic ARN")
        if self.max_concurrent is not None and not 1 <= self.max_concurrent <= 1000:
            raise ConfigError(f"--max-concurrent {self.max_concurrent}: must be 1-1000")
        if not 1 <= self.max_input_mb <= ASYNC_MAX_INPUT_MB:
            raise ConfigError(f"--max-input-mb {self.max_input_mb}: must be 1-{ASYNC_MAX_INPUT_MB}")
        if not 0 <= self.min_instances <= self.max_instances or not 1 <= self.max_instances <= 100:
            raise ConfigError("--min-instances must be 0 to --max-instances, which is 1-100")
        if self.backlog_target <= 0:
            raise ConfigError("--backlog-target must be positive")

    def config(self) -> dict[str, Any]:
        """The endpoint config's `AsyncInferenceConfig`."""
        output: dict[str, Any] = {
            "S3OutputPath": self.output_uri,
            "S3FailurePath": self.failure_uri,
        }
        if self.kms_key_id:
            output["KmsKeyId"] = self.kms_key_id
        topics = {"SuccessTopic": self.success_topic, "ErrorTopic": self.error_topic}
        if any(topics.values()):
            output["NotificationConfig"] = {k: v for k, v in topics.items() if v}
        config: dict[str, Any] = {"OutputConfig": output}
        if self.max_concurrent:
            config["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": self.max_concurrent}
        return config

    def environment(self) -> dict[str, str]:
        # Large JSON Lines / CSV inputs are read and answered as a stream by the server; one
        # request may run as long as SageMaker lets an asynchronous invocation run.
        return {
            "SERVE_MAX_STREAM_MB": str(self.max_input_mb),
            "SERVE_REQUEST_TIMEOUT_S": str(ASYNC_MAX_SECONDS),
        }


@dataclass(frozen=True)
class Components:
    """The model as an inference component: copies, each with its own cores and memory, packed
    on a fleet SageMaker scales by the copies it must place (down to zero instances)."""

    copies: int
    cores_per_copy: int
    memory_per_copy_mb: int
    min_copies: int = 0
    max_copies: int = 4
    min_instances: int = 0
    max_instances: int = 2
    invocations_target: float = 1000.0  # per copy per minute
    autoscale: bool = True
    mode = "inference-component"

    def __post_init__(self) -> None:
        if not 1 <= self.copies <= 1000 or not 1 <= self.cores_per_copy <= 192:
            raise ConfigError("--copies must be 1-1000 and --cores-per-copy 1-192")
        if not 128 <= self.memory_per_copy_mb <= 1_048_576:
            raise ConfigError(
                f"--memory-per-copy {self.memory_per_copy_mb}: must be 128 MB or more"
            )
        if not self.min_copies <= self.copies <= self.max_copies:
            raise ConfigError(
                f"--copies {self.copies} must lie between --min-copies {self.min_copies} "
                f"and --max-copies {self.max_copies}"
            )
        if self.min_copies < 0 or self.min_instances < 0:
            raise ConfigError("--min-copies and --min-instances cannot be negative")
        if not 1 <= self.max_instances <= 100 or self.min_instances > self.max_instances:
            raise ConfigError("--max-instances must be 1-100 and at least --min-instances")
        if self.invocations_target <= 0:
            raise ConfigError("--invocations-per-copy must be positive")

    @property
    def scales_to_zero(self) -> bool:
        return self.min_copies == 0

    def compute(self) -> dict[str, Any]:
        """The component's `ComputeResourceRequirements` for one copy."""
        return {
            "NumberOfCpuCoresRequired": self.cores_per_copy,
            "MinMemoryRequiredInMb": self.memory_per_copy_mb,
        }

    def environment(self) -> dict[str, str]:
        # One worker per reserved core, sized to the reserved memory: a copy never plans for the
        # whole instance it shares.
        return {
            "SERVE_WORKERS": str(self.cores_per_copy),
            "SERVE_MEMORY_MB": str(self.memory_per_copy_mb),
        }


@dataclass(frozen=True)
class MultiModel:
    """Many models in one container on instances: the container has `Mode=MultiModel` and
    `ModelDataUrl` an S3 prefix; SageMaker loads `TargetModel`s from it on demand.

    To everything but its container (metrics, alarms, autoscaling, variants) it is a real-time
    endpoint, so it reports that mode. SageMaker's rules for it (AWS docs: "Supported
    algorithms, frameworks, and instances for multi-model endpoints", "Custom containers
    contract for multi-model endpoints"): every CPU instance type; GPU only with SageMaker's
    Triton container, never a container of our own.
    """

    models_prefix: str
    mode = RealTime.mode

    def __post_init__(self) -> None:
        if not self.models_prefix.startswith("s3://") or not self.models_prefix.endswith("/"):
            raise ConfigError(f"--models-prefix {self.models_prefix!r} must be s3://.../ ")

    def environment(self) -> dict[str, str]:
        # SageMaker sets it too; stated so that the container starts the same way anywhere.
        return {"SAGEMAKER_MULTI_MODEL": "true"}


Hosting = RealTime | Serverless | Asynchronous | Components | MultiModel


def mode_of(config: dict[str, Any]) -> str:
    """The hosting mode of a described endpoint config."""
    variants = config.get("ProductionVariants", [])
    if any("ServerlessConfig" in v for v in variants):
        return Serverless.mode
    if config.get("AsyncInferenceConfig"):
        return Asynchronous.mode
    if variants and all("ModelName" not in v for v in variants):
        return Components.mode
    return RealTime.mode
