"""Which device and ONNX variant serve the model: a pure function of what was asked and what
ONNX Runtime offers, so the CUDA paths are testable on a CPU machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from service.backend.artifact import ArtifactError, Manifest, Precision
from service.settings import DeviceChoice

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True, slots=True)
class DevicePlan:
    device: Literal["cpu", "cuda"]
    providers: list[str]
    precision: Precision
    note: str
    """One line for the log saying why this device and variant were chosen."""


def plan_device(
    requested: DeviceChoice,
    available: Sequence[str],
    manifest: Manifest,
    precision: Precision | None = None,
) -> DevicePlan:
    """Pick the device and the ONNX variant; `cuda` without a CUDA provider falls back to CPU."""
    has_cuda = CUDA in available
    if requested == "cuda" and not has_cuda:
        device: Literal["cpu", "cuda"] = "cpu"
        note = "CUDA requested but onnxruntime offers no CUDAExecutionProvider: falling back to CPU"
    elif requested in ("cuda", "auto") and has_cuda:
        device, note = "cuda", "CUDAExecutionProvider available: serving on the GPU"
    else:
        device, note = (
            "cpu",
            f"serving on CPU ({'asked for' if requested == 'cpu' else 'no CUDA provider'})",
        )
    wanted = precision or manifest.device_variant.get(device, "fp32")
    if wanted not in manifest.variants:
        if precision is not None:
            raise ArtifactError(
                f"precision {precision!r} requested but the artifact has {sorted(manifest.variants)}"
            )
        wanted = "fp32"
    if device == "cpu" and wanted == "fp16":
        note += "; fp16 is for CUDA, using fp32 on CPU"
        wanted = "fp32"
    providers = [CUDA, CPU] if device == "cuda" else [CPU]
    return DevicePlan(device, providers, wanted, f"{note}; variant {wanted}")
