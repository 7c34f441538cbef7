"""Every knob of the server, read once from the environment and passed down.

Our own variables carry the `SERVE_` prefix; SageMaker's names are accepted as aliases so the
same image behaves on an endpoint without extra configuration. This is the only module that
reads the environment: what the settings leave open (`0` or `None`: "decide for this host")
is decided once, in the execution plan (service/backend/plan.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DeviceChoice = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["fp32", "int8", "fp16"]


def _alias(name: str, *sagemaker: str) -> AliasChoices:
    return AliasChoices(f"SERVE_{name.upper()}", *sagemaker)


class Settings(BaseSettings):
    """The server's configuration; see the table in docs/serving.md."""

    model_config = SettingsConfigDict(
        env_prefix="SERVE_",
        populate_by_name=True,
        extra="ignore",
        validate_default=True,
        use_attribute_docstrings=True,
    )

    model_dir: Path = Field(
        default=Path("/opt/ml/model"), validation_alias=_alias("model_dir", "SM_MODEL_DIR")
    )
    """The model artifact directory (manifest.json, ONNX graphs, tokenizer.json)."""

    host: str = Field(default="0.0.0.0", validation_alias=_alias("host"))
    """Interface to bind; SageMaker needs all interfaces, tests use 127.0.0.1."""

    port: int = Field(
        default=8080, ge=0, le=65535, validation_alias=_alias("port", "SAGEMAKER_BIND_TO_PORT")
    )
    """TCP port; SageMaker sets SAGEMAKER_BIND_TO_PORT (8080 when unset)."""

    workers: int = Field(
        default=0, ge=0, le=64, validation_alias=_alias("workers", "SAGEMAKER_MODEL_SERVER_WORKERS")
    )
    """Server processes, each with its own model copy and event loop; 0 means one per usable
    core on CPU (measured best: docs/serving.md) and one on a GPU (~50 MB of GPU memory each)."""

    max_payload_mb: float = Field(
        default=6.0, gt=0, validation_alias=_alias("max_payload_mb", "SAGEMAKER_MAX_PAYLOAD_IN_MB")
    )
    """Largest request body in MiB (SageMaker real-time endpoints allow 6); larger gets 413."""

    max_stream_mb: float = Field(default=1024.0, gt=0)
    """Largest JSON Lines or CSV body in MiB: one over 1 MiB is answered as a stream, chunk by
    chunk (batch transform's mini-batches, asynchronous inference's payloads up to 1 GB)."""

    request_timeout_s: float = Field(
        default=50.0,
        gt=0,
        validation_alias=_alias("request_timeout_s", "SAGEMAKER_MODEL_SERVER_TIMEOUT"),
    )
    """Deadline of one request from arrival; past it the answer is 504. Below SageMaker's 60 s."""

    device: DeviceChoice = "auto"
    """`auto` uses CUDA when ONNX Runtime offers it, else CPU; `cuda` falls back to CPU with a warning."""

    precision: PrecisionChoice | None = None
    """Force one ONNX variant; by default the manifest's choice for the device."""

    variant_tolerance: float = Field(default=0.02, ge=0)
    """A variant not yet checked on this device (fp16 built without a GPU) serves only when its
    scores stay within this of fp32's on check texts at start (same top labels); else fp32."""

    memory_mb: int | None = Field(default=None, gt=0)
    """Memory the server may use, in MiB; by default the container's cgroup limit. Automatic
    workers are capped to what fits (a serverless endpoint's memory size: `deploy --serverless`
    sets it)."""

    intra_op_threads: int = Field(default=0, ge=0)
    """ONNX Runtime threads per operator in each worker on CPU; 0 shares the usable cores among
    the workers (one each with the default one worker per core)."""

    lone_request_threads: int = Field(default=0, ge=0)
    """With several CPU workers: ONNX Runtime threads for a batch that runs while every other
    worker is idle (a lone request gets the cores it can use); 0 means every usable core, 1
    turns it off. Under load each worker keeps its share (`intra_op_threads`)."""

    spin_wait: bool = False
    """Let ONNX Runtime's CPU threads busy-wait between operators: a little faster with the cores
    to itself, much slower when it shares them with the HTTP loop (measured: docs/serving.md)."""

    max_batch_tokens: int | None = Field(default=None, gt=0)
    """Padded-token budget of one batch (longest text × texts). CPU default 256, GPU 16384."""

    max_batch_size: int | None = Field(default=None, gt=0)
    """Most texts in one batch. CPU default 8, GPU 512."""

    max_wait_ms: float | None = Field(default=None, ge=0)
    """How long an under-full batch may wait for company while the model is idle. CPU 0, GPU 1."""

    max_queue_texts: int = Field(default=16384, gt=0)
    """Texts waiting for the model beyond which new requests are shed with 503 and Retry-After."""

    max_queue_wait_ms: float = Field(default=1000.0, ge=0)
    """Shed a request (503, Retry-After) when the work queued ahead of it would take longer than
    this at the model's measured speed; 0 turns the bound off (the deadline still applies).
    Requests of many texts finish later than the estimate says (a batch takes the oldest text
    and its nearest lengths, from any request): with 2 s, 64-text requests let in under a retry
    storm waited 3-5 s; with 1 s the model still never waits for work."""

    max_texts_per_request: int = Field(default=4096, gt=0)
    """More texts than this in one request is 413."""

    truncation: Literal["right", "left", "error", "chunk"] | None = None
    """Texts longer than the model's maximum: `right` keeps the start, `left` the end, `error`
    answers 422, `chunk` scores overlapping windows and aggregates them. Default: the side the
    model's tokenizer truncates. A request may choose with `parameters.truncation`."""

    chunk_stride: int = Field(default=64, ge=0)
    """Tokens shared by neighbouring windows under `chunk` (capped at half a window)."""

    max_text_chars: int = Field(default=200_000, gt=0)
    """Characters in one text beyond which the request is refused (413), so one text cannot
    pin the tokenizer."""

    threshold: float = Field(default=0.5, ge=0, le=1)
    """Multi-label models: the score above which a label is given; per request `threshold`."""

    pad_to_bucket: bool | None = None
    """Pad sequence length up to its bucket (fixed shapes, for CUDA); CPU pads to the batch's longest."""

    drain_timeout_s: float = Field(default=25.0, ge=0)
    """On SIGTERM, how long in-flight and queued work may take before the process exits."""

    metrics_dir: Path | None = Field(
        default=None, validation_alias=_alias("metrics_dir", "PROMETHEUS_MULTIPROC_DIR")
    )
    """With several workers, where they keep their metric files (emptied at start); a temporary
    directory when unset."""

    multi_model: bool = False
    """Start with no model and load models through `POST /models` (SageMaker multi-model
    endpoints set SAGEMAKER_MULTI_MODEL=true, which implies it; locally `serve --multi-model`)."""

    sagemaker_multi_model: bool = Field(
        default=False, validation_alias=AliasChoices("SAGEMAKER_MULTI_MODEL")
    )
    """Set by SageMaker itself: eviction is then SageMaker's (it unloads on 507), never ours."""

    memory_margin_mb: int = Field(default=256, ge=0)
    """Multi-model: memory kept free under the budget (cgroup limit or `memory_mb`) when
    deciding whether a model fits; a load that would pass it is refused with 507."""

    evict_lru: bool = False
    """Multi-model outside SageMaker (Compose): unload the least recently used models to make
    room for a load instead of answering 507. Ignored under SageMaker."""

    max_model_labels: int = Field(default=32, ge=1)
    """Multi-model: distinct `model` label values on the per-model metrics; the models past
    this many are counted under `other`, so the series stay bounded."""

    log_format: Literal["text", "json"] = "text"
    """`json` writes one JSON object per log line, with the request id."""

    log_level: str = "INFO"
    """Level for the `service` loggers."""

    access_log: bool = False
    """uvicorn's per-request access log (off: it costs throughput; errors are always logged)."""

    @model_validator(mode="after")
    def _sagemaker_multi_model(self) -> Settings:
        if self.sagemaker_multi_model:
            self.multi_model = True
        return self

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return upper

    @property
    def max_payload_bytes(self) -> int:
        return int(self.max_payload_mb * 1024 * 1024)

    @property
    def max_stream_bytes(self) -> int:
        return int(self.max_stream_mb * 1024 * 1024)
