"""Building the ONNX graphs: optimum export, ORT fusions, dynamic int8, fp16.

Each function writes one file; `training.export` decides which to build and checks them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import torch
from transformers import PreTrainedModel

from service.backend.artifact import INPUT_NAMES
from service.backend.tokenizer import TextEncoder, TextOrPair
from training.errors import ExportError

log = logging.getLogger(__name__)

OPSET = 18
OUTPUT_NAME = "logits"


def export_raw(model: PreTrainedModel, out_dir: Path, atol: float) -> tuple[Path, list[str]]:
    """optimum export with dynamic batch/sequence axes and optimum's own validation.

    Returns the graph and its input names (token_type_ids where the architecture takes them)."""
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
    inputs, outputs = [i.name for i in graph.input], [o.name for o in graph.output]
    unknown = set(inputs) - set(INPUT_NAMES)
    if "input_ids" not in inputs or unknown or outputs != [OUTPUT_NAME]:
        raise ExportError(
            f"{raw.name}: ONNX inputs {inputs} and outputs {outputs}; the server feeds only "
            f"{list(INPUT_NAMES)} and reads {OUTPUT_NAME!r}"
        )
    return raw, inputs


def ort_model_type(model: PreTrainedModel) -> str:
    """The fusion family ORT's transformer optimizer uses for this architecture (optimum's
    table); encoders it does not list get the BERT passes, which leave unknown patterns alone."""
    from optimum.onnxruntime.utils import ORTConfigManager

    return str(ORTConfigManager._conf.get(model.config.model_type, "bert"))


def optimize_graph(raw: Path, out: Path, model: PreTrainedModel, *, use_gpu: bool = False) -> None:
    """Offline fusions (embedding+LayerNorm, attention, skip-LayerNorm, bias-GELU) at opt_level
    0, so the file stays portable; ORT adds hardware-specific passes when a session loads it.
    The caller checks the result against PyTorch and falls back to the raw graph if it drifts."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(raw),
        model_type=ort_model_type(model),
        num_heads=int(getattr(model.config, "num_attention_heads", 0) or 0),
        hidden_size=int(getattr(model.config, "hidden_size", 0) or 0),
        opt_level=0,
        use_gpu=use_gpu,
    )
    log.info("graph fusions: %s", optimized.get_fused_operator_statistics())
    if use_gpu:
        optimized.convert_float_to_float16(keep_io_types=True)
    optimized.save_model_to_file(str(out))


@dataclass(frozen=True)
class Int8Settings:
    """How int8 is built; the defaults are the settings measured best on AG News titles
    (docs/training.md, "The int8 table")."""

    method: Literal["dynamic", "static"] = "dynamic"
    """dynamic: activation ranges per call; static: from calibration texts, fixed in the graph
    (measured worse here: 95-96% agreement with fp32, against 98.6-98.8% for the default)."""
    per_channel: bool = True
    """One weight scale per output channel instead of one per tensor: the largest gain."""
    op_types: tuple[str, ...] = ("MatMul", "Attention")
    """Operator types to quantise; () is ORT's default set, which also quantises the embedding
    lookup (Gather) per tensor and costs accuracy; kept fp32, the file is ~36 MB larger."""
    source: Literal["fused", "raw"] = "fused"
    """Quantise the fused fp32 graph (ORT's Attention ops) or optimum's unfused export."""
    calibration: Literal["minmax", "percentile", "entropy"] = "minmax"
    """static only: how activation ranges are taken from the calibration texts."""
    calibration_size: int = 256


def quantize_int8(
    fused: Path,
    raw: Path,
    out: Path,
    settings: Int8Settings,
    encoder: TextEncoder,
    calibration_texts: Sequence[TextOrPair],
) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    source = fused if settings.source == "fused" else raw
    # Fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape inference;
    # their outputs are float32, which is what DefaultTensorType tells the quantizer.
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    op_types = list(settings.op_types) or None
    if settings.method == "dynamic":
        quantize_dynamic(
            source,
            out,
            weight_type=QuantType.QInt8,
            per_channel=settings.per_channel,
            op_types_to_quantize=op_types,
            extra_options=extra,
        )
        return
    from onnxruntime.quantization import CalibrationMethod

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    texts = list(calibration_texts)[: settings.calibration_size]
    quantize_static(
        source,
        out,
        _CalibrationFeeds(encoder, texts),
        quant_format=QuantFormat.QDQ,
        # u8 activations, s8 weights: the combination ORT's x86 kernels are fast for.
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=settings.per_channel,
        op_types_to_quantize=op_types,
        calibrate_method=methods[settings.calibration],
        extra_options=extra,
    )


class _CalibrationFeeds:
    """ORT's CalibrationDataReader protocol: one batch of graph inputs per get_next call,
    padded to max_length (the histogram calibrators need one shape for every batch)."""

    def __init__(self, encoder: TextEncoder, texts: list[TextOrPair], batch: int = 16) -> None:
        def padded(chunk: list[TextOrPair]) -> dict[str, np.ndarray]:
            ids = encoder.encode(chunk)
            longest = encoder.max_length
            feeds = encoder.feeds([row + [encoder.pad_id] * (longest - len(row)) for row in ids])
            if "attention_mask" in feeds:
                for row, tokens in enumerate(ids):
                    feeds["attention_mask"][row, len(tokens) :] = 0
            return feeds

        self._batches = iter([padded(texts[i : i + batch]) for i in range(0, len(texts), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def convert_fp16(raw: Path, out: Path, model: PreTrainedModel) -> None:
    """GPU-flavoured fusions, then float16 weights and compute, float32 inputs/outputs kept.
    Needs no GPU. Where the optimizer cannot read a graph, the plain graph is converted."""
    try:
        optimize_graph(raw, out, model, use_gpu=True)
    except Exception as exc:  # the optimizer raises assorted types on graphs it cannot read
        log.info("fp16 without fusions (%s: %s)", type(exc).__name__, exc)
        from onnxruntime.transformers.float16 import convert_float_to_float16

        converted = convert_float_to_float16(onnx.load(str(raw)), keep_io_types=True)
        onnx.save(converted, str(out))
