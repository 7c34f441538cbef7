"""A model as a unit: its manifest, plan (device, variant, batch limits), predictor (length
queue, batcher, admission and shedding) built together. The single-model server is the
one-unit case; a multi-model server (service/models/model_set.py) holds one unit per name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from service.backend.artifact import Manifest
from service.backend.device import plan_device
from service.backend.plan import ExecutionPlan, batch_limits
from service.core.predictor import Model, Predictor, PredictorObserver, Readiness
from service.settings import Settings

if TYPE_CHECKING:
    from service.backend.session import BusyFlags


def plan_for_model(settings: Settings, base: ExecutionPlan, manifest: Manifest) -> ExecutionPlan:
    """The server's plan with this model's own device and variant choice (its manifest's)."""
    device = plan_device(settings.device, base.providers, manifest, settings.precision)
    return replace(
        base,
        device=device.device,
        providers=tuple(device.providers),
        precision=device.precision,
        batch=batch_limits(settings, device.device),
        note=device.note,
    )


def onnx_loader(
    settings: Settings, plan: ExecutionPlan, model_dir: Path, busy: BusyFlags | None = None
) -> Callable[[], Model]:
    """The ONNX Runtime backend for `model_dir`, built on the inference thread when called."""

    def load() -> Model:
        from service.backend.session import OnnxBackend

        return OnnxBackend(
            model_dir,
            plan,
            chunk_stride=settings.chunk_stride,
            variant_tolerance=settings.variant_tolerance,
            busy=busy,
        )

    return load


def model_unit(
    settings: Settings,
    plan: ExecutionPlan,
    load_model: Callable[[], Model],
    observer: PredictorObserver,
    readiness: Readiness | None = None,
) -> Predictor:
    """One model's predictor: its own queue, batches, admission and shedding."""
    return Predictor(
        plan,
        load_model,
        observer,
        request_timeout_s=settings.request_timeout_s,
        drain_timeout_s=settings.drain_timeout_s,
        readiness=readiness,
        truncation=settings.truncation,
    )
