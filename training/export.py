"""PyTorch -> ONNX: optimum export, ORT graph optimisation, int8 and fp16 variants.

Every graph is built in a work directory and checked before the artifact writer copies it:
fp32 against PyTorch on held-out texts (max |Δlogit|, identical argmax), int8 and fp16 against
the labels (accuracy within a point of fp32).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers import PreTrainedModel

from training.errors import ExportError
from training.onnx_check import OnnxClassifier, accuracy, time_variant

log = logging.getLogger(__name__)

FP32_ATOL = 1e-4
INT8_MAX_ACCURACY_DROP = 0.01
FP16_MAX_ACCURACY_DROP = 0.01
OPSET = 18

CpuChoice = Literal["auto", "fp32", "int8"]
Fp16Choice = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class ExportOptions:
    cpu_variant: CpuChoice = "auto"
    """auto: int8 when it is within a point of fp32 and faster at batch 1, 4 and 8 here."""
    fp16: Fp16Choice = "auto"
    """auto: build (and validate) the fp16 variant only when a CUDA provider is present."""
    int8_max_accuracy_drop: float | None = INT8_MAX_ACCURACY_DROP
    """None: keep int8 whatever its accuracy (tiny test models), still recording the figure."""
    timing_batches: tuple[int, ...] = (1, 4, 8)


@dataclass
class ExportResult:
    files: dict[str, Path]
    """precision -> ONNX file in the work directory."""
    parity: dict[str, dict[str, float]]
    device_variant: dict[str, str]
    notes: list[str] = field(default_factory=list)


def export_variants(
    model: PreTrainedModel,
    tokenizer_json: Path,
    texts: list[str],
    labels: list[int],
    reference_logits: np.ndarray,
    work_dir: Path,
    options: ExportOptions = ExportOptions(),
) -> ExportResult:
    """Build fp32 (+ int8, + fp16) graphs in `work_dir`, each checked before it is returned."""
    model = model.to("cpu").eval()
    fp32 = work_dir / "model.onnx"
    export_fp32(model, fp32)
    notes: list[str] = []
    parity: dict[str, dict[str, float]] = {}

    fp32_session = OnnxClassifier(fp32, tokenizer_json)
    fp32_logits = fp32_session.logits(texts)
    diff = float(np.abs(fp32_logits - reference_logits).max()) if len(texts) else 0.0
    same_argmax = bool((fp32_logits.argmax(1) == reference_logits.argmax(1)).all())
    fp32_accuracy = accuracy(fp32_logits, labels)
    parity["fp32"] = {
        "max_abs_logit_diff": diff,
        "argmax_agreement": float(same_argmax),
        "accuracy": fp32_accuracy,
    }
    if diff > FP32_ATOL or not same_argmax:
        raise ExportError(
            f"fp32 ONNX parity failed: max |Δlogit| {diff:.2e} (limit {FP32_ATOL:.0e}), "
            f"argmax identical: {same_argmax}"
        )
    files = {"fp32": fp32}

    int8 = work_dir / "model.int8.onnx"
    quantize_int8(fp32, int8)
    int8_logits = OnnxClassifier(int8, tokenizer_json).logits(texts)
    int8_accuracy = accuracy(int8_logits, labels)
    parity["int8"] = {
        "accuracy": int8_accuracy,
        "accuracy_drop": fp32_accuracy - int8_accuracy,
        "argmax_agreement": float((int8_logits.argmax(1) == fp32_logits.argmax(1)).mean())
        if len(texts)
        else 1.0,
        "max_abs_logit_diff": float(np.abs(int8_logits - fp32_logits).max()) if len(texts) else 0.0,
    }
    limit = options.int8_max_accuracy_drop
    if limit is not None and fp32_accuracy - int8_accuracy > limit + 1e-9:
        notes.append(
            f"int8 left out: accuracy {int8_accuracy:.4f} vs fp32 {fp32_accuracy:.4f} (more than {limit:.0%} lower)"
        )
        del parity["int8"]
    else:
        files["int8"] = int8

    cpu = _choose_cpu_variant(files, tokenizer_json, texts, parity, options, notes)
    device_variant = {"cpu": cpu, "cuda": "fp32"}

    if _want_fp16(options.fp16):
        fp16 = work_dir / "model.fp16.onnx"
        convert_fp16(fp32, fp16, model)
        parity["fp16"] = _check_fp16(fp16, tokenizer_json, texts, labels, fp32_accuracy, notes)
        files["fp16"] = fp16
        device_variant["cuda"] = "fp16"
    return ExportResult(files=files, parity=parity, device_variant=device_variant, notes=notes)


def export_fp32(model: PreTrainedModel, out: Path) -> None:
    """optimum export (dynamic batch/sequence axes, its own validation), then ORT fusions."""
    from optimum.exporters.onnx import onnx_export_from_model

    with tempfile.TemporaryDirectory(prefix="onnx-export-") as raw_dir, warnings.catch_warnings():
        # Tracing warns about constants in the attention-mask helper; the parity check below
        # is what proves the graph right on real inputs.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # optimum copies the tokenizer from config._name_or_path, asking the hub when that is
        # a bare name: point it at the (empty) local export dir so nothing goes to the network.
        name_or_path = model.config._name_or_path
        model.config._name_or_path = raw_dir
        try:
            onnx_export_from_model(
                model,
                output=raw_dir,
                task="text-classification",
                opset=OPSET,
                atol=FP32_ATOL,
                do_validation=True,
            )
        finally:
            model.config._name_or_path = name_or_path
        raw = Path(raw_dir) / "model.onnx"
        _check_io(raw)
        optimize_graph(raw, out, model, use_gpu=False)


def optimize_graph(source: Path, out: Path, model: PreTrainedModel, *, use_gpu: bool) -> None:
    """Offline, provider-independent fusions (attention, LayerNorm, GELU): opt_level 0 keeps
    the graph portable; ORT adds its own hardware-specific passes when a session loads it."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    optimized = optimize_model(
        str(source),
        model_type="bert",
        num_heads=config.n_heads,
        hidden_size=config.dim,
        opt_level=0,
        use_gpu=use_gpu,
    )
    log.info("graph fusions: %s", optimized.get_fused_operator_statistics())
    optimized.save_model_to_file(str(out))


def quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8: weights quantised once, activations per call (no calibration data)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape inference;
    # their outputs are float32, which is what DefaultTensorType tells the quantizer.
    quantize_dynamic(
        fp32,
        out,
        weight_type=QuantType.QInt8,
        per_channel=False,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def convert_fp16(fp32: Path, out: Path, model: PreTrainedModel) -> None:
    """GPU-flavoured fusions, then float16 weights and compute with float32 inputs/outputs."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    optimized = optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=config.n_heads,
        hidden_size=config.dim,
        opt_level=0,
        use_gpu=True,
    )
    optimized.convert_float_to_float16(keep_io_types=True)
    optimized.save_model_to_file(str(out))


def _want_fp16(choice: Fp16Choice) -> bool:
    return choice == "on" or (choice == "auto" and cuda_available())


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


def _check_fp16(
    path: Path,
    tokenizer_json: Path,
    texts: list[str],
    labels: list[int],
    fp32_accuracy: float,
    notes: list[str],
) -> dict[str, float]:
    """fp16 is checked on CUDA only: CPU kernels for fp16 attention are partial in ORT."""
    if not cuda_available():
        notes.append("fp16 built without a CUDA provider: not validated (parity.validated = 0)")
        return {"validated": 0.0}
    logits = OnnxClassifier(path, tokenizer_json, providers=["CUDAExecutionProvider"]).logits(texts)
    fp16_accuracy = accuracy(logits, labels)
    if fp32_accuracy - fp16_accuracy > FP16_MAX_ACCURACY_DROP + 1e-9:
        raise ExportError(
            f"fp16 accuracy {fp16_accuracy:.4f} is more than a point below fp32 {fp32_accuracy:.4f}"
        )
    return {
        "validated": 1.0,
        "accuracy": fp16_accuracy,
        "accuracy_drop": fp32_accuracy - fp16_accuracy,
    }


def _choose_cpu_variant(
    files: dict[str, Path],
    tokenizer_json: Path,
    texts: list[str],
    parity: dict[str, dict[str, float]],
    options: ExportOptions,
    notes: list[str],
) -> str:
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
        faster_everywhere &= int8_ms < fp32_ms
    choice = "int8" if faster_everywhere else "fp32"
    notes.append(
        f"cpu variant {choice}: int8 faster than fp32 at batch {options.timing_batches}: {faster_everywhere}"
    )
    return choice


def _check_io(path: Path) -> None:
    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = [i.name for i in graph.input]
    outputs = [o.name for o in graph.output]
    if inputs != ["input_ids", "attention_mask"] or outputs != ["logits"]:
        raise ExportError(f"{path.name}: unexpected ONNX IO {inputs} -> {outputs}")
