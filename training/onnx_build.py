"""Building the ONNX graphs: optimum export, ORT fusions, dynamic int8, fp16.

Each function writes one file; `training.export` decides which to build and checks them.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch
from transformers import PreTrainedModel

from training.errors import ExportError

log = logging.getLogger(__name__)

OPSET = 18
EXPECTED_IO = (["input_ids", "attention_mask"], ["logits"])


def export_raw(model: PreTrainedModel, out_dir: Path, atol: float) -> Path:
    """optimum export with dynamic batch/sequence axes and optimum's own validation."""
    from optimum.exporters.onnx import onnx_export_from_model

    out_dir.mkdir(parents=True, exist_ok=True)
    # optimum copies the tokenizer from config._name_or_path, asking the hub when that is a
    # bare name: point it at the (empty) local export dir so nothing goes to the network.
    name_or_path = model.config._name_or_path
    model.config._name_or_path = str(out_dir)
    try:
        with warnings.catch_warnings():
            # Tracing warns about constants in the attention-mask helper; the parity check on
            # real texts is what proves the graph right.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
            onnx_export_from_model(
                model,
                output=out_dir,
                task="text-classification",
                opset=OPSET,
                atol=atol,
                do_validation=True,
            )
    finally:
        model.config._name_or_path = name_or_path
    raw = out_dir / "model.onnx"
    graph = onnx.load(str(raw), load_external_data=False).graph
    io = ([i.name for i in graph.input], [o.name for o in graph.output])
    if io != EXPECTED_IO:
        raise ExportError(
            f"{raw.name}: unexpected ONNX inputs/outputs {io}, expected {EXPECTED_IO}"
        )
    return raw


def optimize_graph(raw: Path, out: Path, model: PreTrainedModel, *, use_gpu: bool = False) -> None:
    """Offline fusions (embedding+LayerNorm, attention, skip-LayerNorm, bias-GELU) at opt_level
    0, so the file stays portable; ORT adds hardware-specific passes when a session loads it."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=model.config.n_heads,
        hidden_size=model.config.dim,
        opt_level=0,
        use_gpu=use_gpu,
    )
    log.info("graph fusions: %s", optimized.get_fused_operator_statistics())
    if use_gpu:
        optimized.convert_float_to_float16(keep_io_types=True)
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


def convert_fp16(raw: Path, out: Path, model: PreTrainedModel) -> None:
    """GPU-flavoured fusions, then float16 weights and compute, float32 inputs/outputs kept."""
    optimize_graph(raw, out, model, use_gpu=True)
