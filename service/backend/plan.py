"""The execution plan: every decision about how the model runs, made once at start.

From the settings, the manifest and a probe of the host: the device and provider, the ONNX
variant, the worker processes, ONNX Runtime threads per worker and the batch limits. The
server logs it in one line, hands it to every worker and exports it in `serve_model_info`;
nothing else re-derives any of it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from service.backend.artifact import ArtifactError, Manifest, Precision, load_manifest
from service.backend.device import CPU, plan_device
from service.backend.probe import HostProbe, probe_host, single_text_ms
from service.settings import Settings

log = logging.getLogger(__name__)

MAX_AUTO_WORKERS = 64
"""The most processes `workers=0` starts: a 96-vCPU instance gets 64, one ONNX Runtime thread each."""

# A worker's memory, measured under load by `make bench-serve` (docs/serving.md, memory): 211 MB
# resident for the default 59 MB int8 graph, 264 MB for its 91 MB fp32 graph, each with its
# lone-request session; about 115 MB plus 1.7x the graph's size. Resident counts the embedding
# pages each worker maps from the shared file, so this is on the safe side. The parent plans in
# a short-lived process and then holds about 60 MB, with multiprocessing's helper 75 MB.
WORKER_BASE_MB = 115.0
WORKER_PER_MODEL_MB = 1.7
PARENT_MB = 75.0
MEMORY_SHARE = 0.8
"""Of the container's memory, what the workers may plan to use; the rest is headroom for
request bodies and the tokenizer."""


def workers_for_memory(memory_mb: int, model_mb: float) -> int:
    """How many workers fit in `memory_mb` (at least one)."""
    per_worker = WORKER_BASE_MB + WORKER_PER_MODEL_MB * model_mb
    return max(1, int((memory_mb * MEMORY_SHARE - PARENT_MB) // per_worker))


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How batches are formed on this device and how much may queue (settings first, then the
    device default); the batching core (service/core/batcher.py) works to exactly these."""

    max_batch_tokens: int
    max_batch_size: int
    max_wait_s: float = 0.0
    """How long an under-full batch may wait for company while the model is idle."""
    pad_to_bucket: bool = False
    pipeline_depth: int = 1
    """Batches handed to the inference thread at once; 2 keeps the next one ready (GPU)."""
    run_lone_inline: bool = False
    """A request that finds the model idle and nobody else waiting runs at once on the event
    loop's thread: no queue, no thread hop (CPU, where the hops cost ~0.2 ms of a ~0.6 ms run)."""
    max_queue_texts: int = 16384
    max_queue_wait_s: float = 0.0
    """Shed a request whose texts would not be done within this at the measured model speed
    (it would miss its deadline anyway); 0 turns the estimate off."""
    max_wait_ahead_s: float = 0.0
    """Shed a request when the work queued ahead of it would take longer than this (a bound
    for latency-sensitive callers, whatever the request's own size); 0 turns it off."""


# Measured here (docs/serving.md): on CPU, length-grouped batches of 4-8 headlines beat batch 1
# by ~1.6x through the server, 16 is no better, 32 worse. GPUs want the opposite.
CPU_BATCH = BatchLimits(
    max_batch_tokens=256,
    max_batch_size=8,
    max_wait_s=0.0,
    pad_to_bucket=False,
    pipeline_depth=1,
    run_lone_inline=True,
)
GPU_BATCH = BatchLimits(
    max_batch_tokens=16384,
    max_batch_size=512,
    max_wait_s=0.001,
    pad_to_bucket=True,
    pipeline_depth=2,
)


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    device: Literal["cpu", "cuda"]
    providers: tuple[str, ...]
    precision: Precision
    workers: int
    intra_op_threads: int
    spin_wait: bool
    lone_request_threads: int
    """Threads for a batch that runs while every other worker is idle; equal to
    intra_op_threads when there is no second session (one worker, a GPU, or turned off)."""
    batch: BatchLimits
    usable_cores: int
    note: str
    """Why this device and variant, in words."""

    def describe(self) -> str:
        """The plan in one log line."""
        b = self.batch
        return (
            f"plan: {self.device} ({self.providers[0]}), variant {self.precision}, "
            f"{self.workers} worker(s) x {self.intra_op_threads} thread(s)"
            f"{self._lone()} on "
            f"{self.usable_cores} usable core(s), batch <= {b.max_batch_size} texts / "
            f"{b.max_batch_tokens} tokens, wait {b.max_wait_s * 1000:g} ms; {self.note}"
        )

    def _lone(self) -> str:
        if self.lone_request_threads == self.intra_op_threads:
            return ""
        return f" ({self.lone_request_threads} when the other workers are idle)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionPlan:
        fields = dict(data)
        fields["providers"] = tuple(fields["providers"])
        fields["batch"] = BatchLimits(**fields["batch"])
        return cls(**fields)


def batch_limits(settings: Settings, device: Literal["cpu", "cuda"]) -> BatchLimits:
    default = GPU_BATCH if device == "cuda" else CPU_BATCH
    return BatchLimits(
        max_batch_tokens=settings.max_batch_tokens or default.max_batch_tokens,
        max_batch_size=settings.max_batch_size or default.max_batch_size,
        max_wait_s=(
            settings.max_wait_ms / 1000.0
            if settings.max_wait_ms is not None
            else default.max_wait_s
        ),
        pad_to_bucket=(
            settings.pad_to_bucket if settings.pad_to_bucket is not None else default.pad_to_bucket
        ),
        pipeline_depth=default.pipeline_depth,
        # Waiting for company and running alone at once contradict each other.
        run_lone_inline=default.run_lone_inline and not settings.max_wait_ms,
        max_queue_texts=settings.max_queue_texts,
        # Shed what would wait past 80% of its deadline: it would only time out later.
        max_queue_wait_s=0.8 * settings.request_timeout_s,
        max_wait_ahead_s=settings.max_queue_wait_ms / 1000.0,
    )


def decide_plan(
    settings: Settings,
    probe: HostProbe,
    manifest: Manifest | None,
    *,
    single_process: bool = False,
    model_mb: float = 0.0,
) -> ExecutionPlan:
    """The plan for these settings on this host. Without a manifest (the artifact cannot be
    read) it still decides, so the workers start and report the artifact's fault at /ping.
    `single_process`: the app runs in this process alone (in-process use, tests)."""
    if manifest is not None:
        device = plan_device(settings.device, probe.providers, manifest, settings.precision)
        name, providers, precision, note = (
            device.device,
            tuple(device.providers),
            device.precision,
            device.note,
        )
    else:
        name, providers, precision = "cpu", (CPU,), settings.precision or "fp32"
        note = "the artifact could not be read; planning for CPU"
    if probe.cuda_unusable:
        note = f"CUDA fell back to CPU (listed but unusable); {note}"
    workers = 1 if single_process else settings.workers
    if not workers:
        workers = 1 if name == "cuda" else min(probe.usable_cores, MAX_AUTO_WORKERS)
        if probe.memory_mb is not None:
            fit = workers_for_memory(probe.memory_mb, model_mb)
            if fit < workers:
                note = f"{note}; {fit} worker(s) fit in {probe.memory_mb} MB"
                workers = fit
    threads = settings.intra_op_threads or max(1, probe.usable_cores // workers)
    lone = settings.lone_request_threads or probe.usable_cores
    if name == "cuda" or workers == 1 or settings.spin_wait:
        lone = threads  # nobody to share the cores with, or spinning threads would steal them
    return ExecutionPlan(
        device=name,
        providers=providers,
        precision=precision,
        workers=workers,
        intra_op_threads=threads,
        spin_wait=settings.spin_wait,
        lone_request_threads=max(lone, threads),
        batch=batch_limits(settings, name),
        usable_cores=probe.usable_cores,
        note=note,
    )


def plan_for(settings: Settings, *, single_process: bool = False) -> ExecutionPlan:
    """Read the manifest, probe the host and decide: what the server does once at start."""
    try:
        manifest: Manifest | None = load_manifest(settings.model_dir, verify_checksums=False)
    except ArtifactError:
        manifest = None  # the worker's own load reports it (and /ping stays 503)
    fp32 = settings.model_dir / manifest.variants["fp32"].file if manifest else None
    probe = probe_host(fp32, try_cuda=settings.device != "cpu", memory_mb=settings.memory_mb)
    # Memory caps CPU workers (one serves a GPU): sized by the graph a CPU worker loads.
    cpu_graph = (
        settings.model_dir / manifest.variant_for("cpu", settings.precision).file
        if manifest and (settings.precision or "fp32") in manifest.variants
        else fp32
    )
    model_mb = cpu_graph.stat().st_size / 1e6 if cpu_graph and cpu_graph.is_file() else 0.0
    try:
        plan = decide_plan(
            settings, probe, manifest, single_process=single_process, model_mb=model_mb
        )
    except ArtifactError:  # e.g. a forced precision the artifact lacks: the worker reports it
        return decide_plan(settings, probe, None, single_process=single_process)
    if manifest and cpu_graph and settings.lone_request_threads == 0:
        plan = _measure_lone_session(plan, cpu_graph, manifest.input_names)
    return plan


LONE_GAIN = 0.9
"""A lone-request session is kept only when it runs a single text in under 90% of the time."""


def _measure_lone_session(
    plan: ExecutionPlan, model_file: Path, input_names: list[str]
) -> ExecutionPlan:
    """Every core helps a lone request only for a model big enough to split: measured here,
    before any worker starts (a small model on a few cores runs a text faster on one)."""
    if plan.lone_request_threads <= plan.intra_op_threads:
        return plan
    try:
        share = single_text_ms(model_file, input_names, plan.intra_op_threads, plan.spin_wait)
        every = single_text_ms(model_file, input_names, plan.lone_request_threads, spin=True)
    except Exception as exc:  # a graph that does not load is the worker's to report
        log.debug("lone-request timing failed: %r", exc)
        return replace(plan, lone_request_threads=plan.intra_op_threads)
    keep = every < LONE_GAIN * share
    verdict = (
        f"a lone text takes {every:.2f} ms on {plan.lone_request_threads} threads vs "
        f"{share:.2f} ms on {plan.intra_op_threads}: lone-request session "
        f"{'on' if keep else 'off'}"
    )
    lone = plan.lone_request_threads if keep else plan.intra_op_threads
    return replace(plan, lone_request_threads=lone, note=f"{plan.note}; {verdict}")
