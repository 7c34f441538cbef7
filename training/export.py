"""PyTorch -> checked ONNX variants.

Every graph is built in a work directory and checked before the artifact writer copies it:
fp32 against PyTorch on held-out texts (max |Δlogit|, identical argmax); int8 and fp16 by
test accuracy (within a point of fp32). The CPU variant is chosen by measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from transformers import PreTrainedModel

from training.errors import ExportError
from training.onnx_build import convert_fp16, export_raw, optimize_graph, quantize_int8
from training.onnx_check import OnnxClassifier, accuracy, time_variant

FP32_ATOL = 1e-4
MAX_ACCURACY_DROP = 0.01
"""int8 and fp16 must be within one accuracy point of fp32 on the test split."""

CpuChoice = Literal["auto", "fp32", "int8"]
Fp16Choice = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class ExportOptions:
    cpu_variant: CpuChoice = "auto"
    """auto: int8 when it passed its check and is faster than fp32 at every timing batch."""
    fp16: Fp16Choice = "auto"
    """auto: build fp16 only when a CUDA provider is present (where it is validated)."""
    int8_max_accuracy_drop: float | None = MAX_ACCURACY_DROP
    """None: keep int8 whatever its accuracy (tiny test models); the figure is still recorded."""
    timing_batches: tuple[int, ...] = (1, 4, 8)


@dataclass
class ExportResult:
    files: dict[str, Path]
    """precision -> ONNX file in the work directory."""
    parity: dict[str, dict[str, float]]
    device_variant: dict[str, str]
    notes: list[str] = field(default_factory=list)


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


def export_variants(
    model: PreTrainedModel,
    tokenizer_json: Path,
    texts: list[str],
    labels: list[int],
    reference_logits: np.ndarray,
    work_dir: Path,
    options: ExportOptions = ExportOptions(),
) -> ExportResult:
    """Build fp32, int8 (and fp16) graphs in `work_dir`; raise ExportError if fp32 is off."""
    model.to("cpu")  # type: ignore[arg-type]
    model.eval()  # type: ignore[no-untyped-call]
    raw = export_raw(model, work_dir / "raw", atol=FP32_ATOL)
    fp32 = work_dir / "model.onnx"
    optimize_graph(raw, fp32, model)

    fp32_logits = OnnxClassifier(fp32, tokenizer_json).logits(texts)
    parity = {"fp32": fp32_parity(fp32_logits, reference_logits, labels)}
    files = {"fp32": fp32}
    notes: list[str] = []

    int8 = work_dir / "model.int8.onnx"
    quantize_int8(fp32, int8)
    int8_logits = OnnxClassifier(int8, tokenizer_json).logits(texts)
    int8_figures = compare(int8_logits, fp32_logits, labels)
    limit = options.int8_max_accuracy_drop
    if limit is not None and int8_figures["accuracy_drop"] > limit + 1e-9:
        notes.append(
            f"int8 left out: test accuracy {int8_figures['accuracy']:.4f} is more than "
            f"{limit:.0%} below fp32 {parity['fp32']['accuracy']:.4f}"
        )
    else:
        files["int8"], parity["int8"] = int8, int8_figures

    device_variant = {
        "cpu": choose_cpu_variant(files, tokenizer_json, texts, parity, options, notes)
    }
    device_variant["cuda"] = "fp32"
    if options.fp16 == "on" or (options.fp16 == "auto" and cuda_available()):
        fp16 = work_dir / "model.fp16.onnx"
        convert_fp16(raw, fp16, model)
        figures = check_fp16(fp16, tokenizer_json, texts, labels, fp32_logits, notes)
        if figures is not None:
            files["fp16"], parity["fp16"] = fp16, figures
            device_variant["cuda"] = "fp16"
    return ExportResult(files=files, parity=parity, device_variant=device_variant, notes=notes)


def fp32_parity(
    onnx_logits: np.ndarray, torch_logits: np.ndarray, labels: list[int]
) -> dict[str, float]:
    diff = float(np.abs(onnx_logits - torch_logits).max()) if len(labels) else 0.0
    same_argmax = bool((onnx_logits.argmax(1) == torch_logits.argmax(1)).all())
    if diff > FP32_ATOL or not same_argmax:
        raise ExportError(
            f"fp32 ONNX parity failed on {len(labels)} held-out texts: max |Δlogit| {diff:.2e} "
            f"(limit {FP32_ATOL:.0e}), identical argmax: {same_argmax}"
        )
    return {
        "max_abs_logit_diff": diff,
        "argmax_agreement": 1.0,
        "accuracy": accuracy(onnx_logits, labels),
        "texts": float(len(labels)),
    }


def compare(logits: np.ndarray, fp32_logits: np.ndarray, labels: list[int]) -> dict[str, float]:
    """A reduced-precision variant's figures against the fp32 graph on the same texts."""
    value = accuracy(logits, labels)
    agree = (logits.argmax(1) == fp32_logits.argmax(1)).mean() if len(labels) else 1.0
    return {
        "accuracy": value,
        "accuracy_drop": accuracy(fp32_logits, labels) - value,
        "argmax_agreement": float(agree),
        "max_abs_logit_diff": float(np.abs(logits - fp32_logits).max()) if len(labels) else 0.0,
    }


def check_fp16(
    path: Path,
    tokenizer_json: Path,
    texts: list[str],
    labels: list[int],
    fp32_logits: np.ndarray,
    notes: list[str],
) -> dict[str, float] | None:
    """Validated on CUDA when present (dropped if it fails). Without CUDA the figures come from
    ORT's CPU provider, which may not run every fp16 kernel: recorded as not validated."""
    if cuda_available():
        logits = OnnxClassifier(path, tokenizer_json, providers=["CUDAExecutionProvider"]).logits(
            texts
        )
        figures = compare(logits, fp32_logits, labels) | {"validated_on_cuda": 1.0}
        if figures["accuracy_drop"] > MAX_ACCURACY_DROP + 1e-9:
            notes.append(
                f"fp16 left out: test accuracy {figures['accuracy']:.4f} more than a point below fp32"
            )
            return None
        return figures
    notes.append("fp16 built without a CUDA provider: not validated (parity.validated_on_cuda = 0)")
    try:
        logits = OnnxClassifier(path, tokenizer_json).logits(texts)
    except Exception as exc:  # ORT raises its own types for missing kernels
        notes.append(f"fp16 does not run on the CPU provider here ({type(exc).__name__})")
        return {"validated_on_cuda": 0.0}
    return {f"cpu_{k}": v for k, v in compare(logits, fp32_logits, labels).items()} | {
        "validated_on_cuda": 0.0
    }


def choose_cpu_variant(
    files: dict[str, Path],
    tokenizer_json: Path,
    texts: list[str],
    parity: dict[str, dict[str, float]],
    options: ExportOptions,
    notes: list[str],
) -> str:
    """int8 only if it passed its accuracy check and is faster at every timing batch size."""
    if "int8" not in files:
        return "fp32"
    if options.cpu_variant != "auto":
        return options.cpu_variant
    sample = (texts * 8)[:64] or ["a headline"]
    faster_everywhere = True
    for batch in options.timing_batches:
        fp32_ms = time_variant(files["fp32"], tokenizer_json, sample, batch)
        int8_ms = time_variant(files["int8"], tokenizer_json, sample, batch)
        parity["fp32"][f"ms_per_batch_{batch}"] = fp32_ms
        parity["int8"][f"ms_per_batch_{batch}"] = int8_ms
        faster_everywhere = faster_everywhere and int8_ms < fp32_ms
    choice = "int8" if faster_everywhere else "fp32"
    timings = ", ".join(
        f"b{b} {parity['fp32'][f'ms_per_batch_{b}']:.2f}/{parity['int8'][f'ms_per_batch_{b}']:.2f} ms"
        for b in options.timing_batches
    )
    notes.append(f"cpu serves {choice} (fp32/int8 per batch: {timings})")
    return choice
