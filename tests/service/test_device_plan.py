"""Device and variant choice, including the CUDA paths, decided without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.backend.artifact import ArtifactError, Manifest, VariantInfo, load_manifest
from service.backend.device import CPU, CUDA, plan_device
from service.backend.plan import plan_for
from service.backend.probe import probe_host, usable_cores
from service.backend.session import OnnxBackend
from service.settings import Settings


def manifest(*precisions: str, cuda: str = "fp16", cpu: str = "int8") -> Manifest:
    variants = {
        p: VariantInfo.model_validate({"file": f"model.{p}.onnx", "precision": p})
        for p in ("fp32", *precisions)
    }
    device_variant = {
        "cpu": cpu if cpu in variants else "fp32",
        "cuda": cuda if cuda in variants else "fp32",
    }
    return Manifest.model_validate(
        {
            "model_version": "t",
            "labels": ["a", "b"],
            "max_length": 16,
            "variants": variants,
            "device_variant": device_variant,
        }
    )


def test_auto_uses_cuda_and_the_fp16_variant_when_the_provider_exists() -> None:
    plan = plan_device("auto", [CUDA, CPU], manifest("fp16", "int8"))
    assert (plan.device, plan.providers, plan.precision) == ("cuda", [CUDA, CPU], "fp16")


def test_auto_without_cuda_serves_the_cpu_variant() -> None:
    plan = plan_device("auto", [CPU], manifest("fp16", "int8"))
    assert (plan.device, plan.providers, plan.precision) == ("cpu", [CPU], "int8")


def test_cuda_requested_without_provider_falls_back_with_a_clear_note() -> None:
    plan = plan_device("cuda", [CPU], manifest("fp16"))
    assert plan.device == "cpu" and plan.precision == "fp32"
    assert "falling back to CPU" in plan.note


def test_cpu_never_runs_fp16_even_when_forced_through_the_manifest() -> None:
    plan = plan_device("cpu", [CUDA, CPU], manifest("fp16", cpu="fp16"))
    assert plan.precision == "fp32" and "fp16 is for CUDA" in plan.note


def test_cuda_without_fp16_variant_uses_fp32() -> None:
    assert plan_device("auto", [CUDA, CPU], manifest()).precision == "fp32"


def test_forcing_a_missing_precision_is_an_artifact_error() -> None:
    with pytest.raises(ArtifactError, match="int8"):
        plan_device("cpu", [CPU], manifest(), precision="int8")


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_cuda_offered_but_failing_reopens_on_cpu_with_the_cpu_variant(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime-gpu on a host without a usable GPU lists CUDA, then runs on CPU: the plan's
    probe must notice, so the server plans for CPU (one worker per core, the CPU variant), not
    the GPU one on CPU."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    plan = plan_for(Settings(model_dir=tiny_artifact, intra_op_threads=1))
    backend = OnnxBackend(tiny_artifact, plan)
    manifest = load_manifest(tiny_artifact)
    assert backend.provider == CPU and backend.device == "cpu"
    assert plan.device == "cpu" and "fell back" in plan.note
    assert plan.precision == manifest.device_variant["cpu"]
    assert plan.workers == usable_cores()  # planned as a CPU host, not one GPU worker


def test_the_cuda_probe_is_skipped_when_cpu_is_asked_for(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime

    opened: list[object] = []
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: opened.append(a))
    probe = probe_host(tiny_artifact / "model.onnx", try_cuda=False)
    assert CUDA in probe.providers and not probe.cuda_unusable and opened == []
