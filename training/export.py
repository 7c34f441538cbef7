"""PyTorch -> checked ONNX variants. One exporter for `train` and for `export --model`.

Every graph is built in a work directory and checked before the artifact writer copies it:
fp32 against PyTorch on the check texts (max |Δlogit|, identical decisions); int8 against fp32
within a tolerance the user sets; fp16 on CUDA where there is one, otherwise built and marked
not yet checked on a device (the server checks it at start). The CPU variant is chosen by
measurement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from transformers import PreTrainedModel

from service.backend.artifact import Device
from service.backend.tokenizer import TextEncoder, TextOrPair
from training.checkpoint import ServingContract
from training.errors import ExportError
from training.onnx_build import (
    Int8Settings,
    convert_fp16,
    export_raw,
    optimize_graph,
    quantize_int8,
)
from training.onnx_check import OnnxClassifier, time_variant

log = logging.getLogger(__name__)

FP32_ATOL = 1e-4
INT8_TOLERANCE = 0.005
"""int8 serves on CPU only if it loses at most half an accuracy point against fp32."""
FP16_TOLERANCE = 0.01

CpuChoice = Literal["auto", "fp32", "int8"]
Fp16Choice = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class ExportOptions:
    cpu_variant: CpuChoice = "auto"
    """auto: int8 when it passed its check and is faster than fp32 at every timing batch."""
    fp16: Fp16Choice = "auto"
    """auto and on: build fp16 (no GPU needed); checked on CUDA only where there is one."""
    int8_max_accuracy_drop: float | None = INT8_TOLERANCE
    """The most accuracy int8 may lose against fp32 (0.005 = half a point). Without labels,
    the share of texts whose decision differs from fp32's, an upper bound on that loss.
    None: keep int8 whatever its figures (tiny test models); they are still recorded."""
    int8: Int8Settings = field(default_factory=Int8Settings)
    timing_batches: tuple[int, ...] = (1, 4, 8)


@dataclass
class ExportResult:
    files: dict[str, Path]
    """precision -> ONNX file in the work directory."""
    parity: dict[str, dict[str, float]]
    device_variant: dict[str, str]
    input_names: list[str]
    verified_on: dict[str, list[Device]]
    notes: list[str] = field(default_factory=list)


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


def export_variants(
    model: PreTrainedModel,
    tokenizer_json: Path,
    contract: ServingContract,
    texts: Sequence[TextOrPair],
    labels: list[int] | None,
    reference_logits: np.ndarray,
    work_dir: Path,
    options: ExportOptions = ExportOptions(),
    calibration_texts: Sequence[TextOrPair] | None = None,
) -> ExportResult:
    """Build fp32, int8 and fp16 graphs in `work_dir`; raise ExportError if fp32 is off.

    `labels`: the true single-label classes of `texts` (test split), or None (a model exported
    as it is): then the fp32 graph's own decisions are what int8 and fp16 must agree with.
    `texts` may be sentence pairs (a pair model): every check then runs on pairs, with their
    token type ids, as the server feeds them."""
    model.to("cpu")  # type: ignore[arg-type]
    model.eval()  # type: ignore[no-untyped-call]
    raw, input_names = export_raw(model, work_dir / "raw", atol=FP32_ATOL)
    encoder = TextEncoder(
        tokenizer_json,
        contract.max_length,
        truncation_side=contract.truncation_side,
        pad_id=contract.pad_token_id,
        input_names=input_names,
    )
    judge = Judge(contract.activation, labels)
    notes: list[str] = []
    fp32, fp32_logits, fp32_figures = build_fp32(
        model, raw, work_dir, encoder, texts, reference_logits, judge, notes
    )
    judge.reference = fp32_logits
    parity = {"fp32": fp32_figures}
    files = {"fp32": fp32}
    verified_on: dict[str, list[Device]] = {"fp32": ["cpu"]}

    int8 = work_dir / "model.int8.onnx"
    quantize_int8(fp32, raw, int8, options.int8, encoder, calibration_texts or texts)
    int8_figures = judge.compare(OnnxClassifier(int8, encoder).logits(texts))
    limit = options.int8_max_accuracy_drop
    if limit is not None and int8_figures["accuracy_drop"] > limit + 1e-9:
        notes.append(
            f"int8 left out: {judge.measure} {int8_figures['accuracy']:.4f} is more than "
            f"{limit:g} below fp32 {parity['fp32']['accuracy']:.4f} (--int8-tolerance)"
        )
    else:
        files["int8"], parity["int8"] = int8, int8_figures
        verified_on["int8"] = ["cpu"]

    device_variant = {"cpu": choose_cpu_variant(files, encoder, texts, parity, options, notes)}
    device_variant["cuda"] = "fp32"
    if options.fp16 != "off":
        fp16 = work_dir / "model.fp16.onnx"
        convert_fp16(raw, fp16, model)
        checked = check_fp16(fp16, encoder, texts, judge, notes)
        if checked is not None:
            parity["fp16"], verified_on["fp16"] = checked
            files["fp16"] = fp16
            device_variant["cuda"] = "fp16"
    return ExportResult(
        files=files,
        parity=parity,
        device_variant=device_variant,
        input_names=input_names,
        verified_on=verified_on,
        notes=notes,
    )


class Judge:
    """Compares a graph's logits with a reference: argmax for softmax models, the set of
    labels above 0.5 for sigmoid ones; accuracy against true labels when there are any."""

    def __init__(self, activation: str, labels: list[int] | None) -> None:
        self.activation = activation
        self.labels = labels
        self.reference: np.ndarray | None = None
        self.measure = "test accuracy" if labels is not None else "agreement with fp32"

    def decisions(self, logits: np.ndarray) -> np.ndarray:
        if self.activation == "sigmoid":
            return np.asarray(logits > 0.0)  # sigmoid(x) > 0.5
        return np.asarray(logits.argmax(axis=1)[:, None])

    def agreement(self, logits: np.ndarray, other: np.ndarray) -> float:
        if not len(logits):
            return 1.0
        return float((self.decisions(logits) == self.decisions(other)).all(axis=1).mean())

    def accuracy(self, logits: np.ndarray) -> float:
        if self.labels is None:
            assert self.reference is not None
            return self.agreement(logits, self.reference)
        if not len(self.labels):
            return 0.0
        return float((logits.argmax(axis=1) == np.asarray(self.labels)).mean())

    def compare(self, logits: np.ndarray) -> dict[str, float]:
        """A reduced-precision variant's figures against the fp32 graph on the same texts."""
        assert self.reference is not None
        value = self.accuracy(logits)
        return {
            "accuracy": value,
            "accuracy_drop": self.accuracy(self.reference) - value,
            "argmax_agreement": self.agreement(logits, self.reference),
            "max_abs_logit_diff": float(np.abs(logits - self.reference).max())
            if len(logits)
            else 0.0,
        }


def build_fp32(
    model: PreTrainedModel,
    raw: Path,
    work_dir: Path,
    encoder: TextEncoder,
    texts: Sequence[TextOrPair],
    reference_logits: np.ndarray,
    judge: Judge,
    notes: list[str],
) -> tuple[Path, np.ndarray, dict[str, float]]:
    """ORT's fusions where they keep parity; the unfused graph where they do not (a pattern
    the optimizer mis-reads on some architecture); ExportError if neither matches PyTorch."""
    fused = work_dir / "model.onnx"
    try:
        optimize_graph(raw, fused, model)
        logits = OnnxClassifier(fused, encoder).logits(texts)
        return fused, logits, fp32_parity(logits, reference_logits, judge)
    except ExportError as exc:
        notes.append(f"fp32 served unfused: ORT's fusions drifted ({exc})")
    except Exception as exc:  # the optimizer raises assorted types on graphs it cannot read
        notes.append(f"fp32 served unfused: ORT's optimizer failed ({type(exc).__name__}: {exc})")
    logits = OnnxClassifier(raw, encoder).logits(texts)
    return raw, logits, fp32_parity(logits, reference_logits, judge)


def fp32_parity(
    onnx_logits: np.ndarray, torch_logits: np.ndarray, judge: Judge | None = None
) -> dict[str, float]:
    judge = judge or Judge("softmax", None)
    count = len(torch_logits)
    diff = float(np.abs(onnx_logits - torch_logits).max()) if count else 0.0
    same = judge.agreement(onnx_logits, torch_logits) == 1.0
    if diff > FP32_ATOL or not same:
        raise ExportError(
            f"fp32 ONNX parity failed on {count} texts: max |Δlogit| {diff:.2e} "
            f"(limit {FP32_ATOL:.0e}), identical decisions: {same}"
        )
    figures = {"max_abs_logit_diff": diff, "argmax_agreement": 1.0, "texts": float(count)}
    if judge.labels is not None:
        figures["accuracy"] = judge.accuracy(onnx_logits)
    else:
        figures["accuracy"] = 1.0  # agreement with itself: the yardstick for int8 and fp16
    return figures


def check_fp16(
    path: Path, encoder: TextEncoder, texts: Sequence[TextOrPair], judge: Judge, notes: list[str]
) -> tuple[dict[str, float], list[Device]] | None:
    """On CUDA where there is one (left out if it fails). Elsewhere: built, not yet checked
    on a device (`verified_on` empty); ORT's CPU provider figures are kept as cpu_* for
    reference, since it may run some fp16 kernels differently from CUDA."""
    if cuda_available():
        classifier = OnnxClassifier(path, encoder, providers=["CUDAExecutionProvider"])
        if classifier.session.get_providers()[0] == "CUDAExecutionProvider":
            figures = judge.compare(classifier.logits(texts))
            if figures["accuracy_drop"] > FP16_TOLERANCE + 1e-9:
                notes.append(f"fp16 left out: {judge.measure} {figures['accuracy']:.4f} on CUDA")
                return None
            return figures, ["cuda"]
    notes.append("fp16 built without a GPU: not yet checked on a device (the server checks it)")
    try:
        logits = OnnxClassifier(path, encoder).logits(texts)
    except Exception as exc:  # ORT raises its own types for missing kernels
        notes.append(f"fp16 does not run on the CPU provider here ({type(exc).__name__})")
        return {}, []
    return {f"cpu_{k}": v for k, v in judge.compare(logits).items()}, []


def choose_cpu_variant(
    files: dict[str, Path],
    encoder: TextEncoder,
    texts: Sequence[TextOrPair],
    parity: dict[str, dict[str, float]],
    options: ExportOptions,
    notes: list[str],
) -> str:
    """int8 only if it passed its accuracy check and is faster at every timing batch size."""
    if "int8" not in files:
        return "fp32"
    if options.cpu_variant != "auto":
        return options.cpu_variant
    sample = (list(texts) * 8)[:64] or ["a headline"]
    faster_everywhere = True
    for batch in options.timing_batches:
        fp32_ms = time_variant(files["fp32"], encoder, sample, batch)
        int8_ms = time_variant(files["int8"], encoder, sample, batch)
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
