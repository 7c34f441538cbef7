"""ONNX export of a tiny real DistilBERT: parity gates, variants, dynamic axes, fp16 path."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from training.artifact_writer import write_tokenizer_json
from training.base_model import DEFAULT_BASE, load_tokenizer
from training.checkpoint import serving_contract
from training.data import SAMPLE_DATA, load_table
from training.errors import ExportError
from training.evaluate import predict_logits
from training.export import ExportOptions, ExportResult, Judge, export_variants, fp32_parity
from training.fixtures import tiny_model

LABELS = ["business", "entertainment", "health", "scitech"]


@pytest.fixture(scope="module")
def held_out() -> tuple[list[str], list[int]]:
    frame = load_table(SAMPLE_DATA).head(48)
    return frame["text"].tolist(), [LABELS.index(label) for label in frame["label"]]


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory, held_out: tuple[list[str], list[int]]
) -> ExportResult:
    texts, labels = held_out
    work = tmp_path_factory.mktemp("export")
    tokenizer = load_tokenizer(DEFAULT_BASE)
    write_tokenizer_json(tokenizer, 32, work / "tokenizer.json")
    model = tiny_model(LABELS, seed=1)
    reference = predict_logits(model, tokenizer, texts, max_length=32)
    return export_variants(
        model,
        work / "tokenizer.json",
        serving_contract(model, tokenizer, "tiny", 32),
        texts,
        labels,
        reference,
        work,
        ExportOptions(cpu_variant="auto", fp16="on", int8_max_accuracy_drop=None),
    )


def test_fp32_matches_pytorch_and_has_dynamic_axes(exported: ExportResult) -> None:
    fp32 = exported.parity["fp32"]
    assert fp32["max_abs_logit_diff"] <= 1e-4
    assert fp32["argmax_agreement"] == 1.0 and fp32["texts"] == 48
    graph = onnx.load(str(exported.files["fp32"])).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in graph.output] == ["logits"]
    for tensor in graph.input:
        dims = tensor.type.tensor_type.shape.dim
        assert tensor.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert all(d.dim_param for d in dims), f"{tensor.name} has a fixed axis"
    fused = Counter(node.op_type for node in graph.node)
    assert fused["Attention"] == 2, "ORT's transformer optimizer fused the attention blocks"


def test_int8_is_quantised_and_the_cpu_choice_is_measured(exported: ExportResult) -> None:
    graph = onnx.load(str(exported.files["int8"])).graph
    assert any(
        node.op_type in {"DynamicQuantizeLinear", "MatMulInteger", "QAttention"}
        for node in graph.node
    )
    int8 = exported.parity["int8"]
    assert 0.0 <= int8["argmax_agreement"] <= 1.0 and "accuracy_drop" in int8
    for batch in (1, 4, 8):
        assert exported.parity["fp32"][f"ms_per_batch_{batch}"] > 0
        assert int8[f"ms_per_batch_{batch}"] > 0
    faster = all(
        int8[f"ms_per_batch_{b}"] < exported.parity["fp32"][f"ms_per_batch_{b}"] for b in (1, 4, 8)
    )
    assert exported.device_variant["cpu"] == ("int8" if faster else "fp32")


def test_fp16_keeps_float32_io_and_is_marked_unvalidated_without_cuda(
    exported: ExportResult,
) -> None:
    model = onnx.load(str(exported.files["fp16"]))
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in model.graph.input)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert exported.device_variant["cuda"] == "fp16"
    parity = exported.parity["fp16"]
    if exported.verified_on["fp16"] == []:
        assert any("not yet checked on a device" in note for note in exported.notes)
    else:
        assert exported.verified_on["fp16"] == ["cuda"]
    if "cpu_max_abs_logit_diff" in parity:
        assert parity["cpu_max_abs_logit_diff"] < 0.05


def test_fp32_parity_gate_rejects_drift_and_flipped_argmax() -> None:
    torch_logits = np.array([[0.2, 0.1], [0.0, 0.5]], dtype=np.float32)
    judge = Judge("softmax", [0, 1])
    with pytest.raises(ExportError, match=r"max \|Δlogit\| 5\.0\de-04"):
        fp32_parity(torch_logits + 5e-4, torch_logits, judge)
    near_tie = np.array([[0.5, 0.50001]], dtype=np.float32)
    with pytest.raises(ExportError, match="identical decisions: False"):
        fp32_parity(near_tie[:, ::-1].copy(), near_tie, Judge("softmax", [1]))
    assert fp32_parity(torch_logits + 5e-5, torch_logits, judge)["argmax_agreement"] == 1.0


def test_multi_label_decisions_are_the_labels_above_one_half() -> None:
    reference = np.array([[2.0, -1.0, 0.5], [-3.0, -0.2, 0.1]], dtype=np.float32)
    judge = Judge("sigmoid", None)
    judge.reference = reference
    same_sets = reference + np.array([[1.0, -2.0, 0.3], [-1.0, -0.1, 0.05]], dtype=np.float32)
    assert judge.compare(same_sets)["argmax_agreement"] == 1.0
    one_flipped = reference.copy()
    one_flipped[1, 1] = 0.3  # a second label crosses 0.5 on the second text
    figures = judge.compare(one_flipped)
    assert figures["argmax_agreement"] == 0.5 and figures["accuracy_drop"] == 0.5


def test_int8_that_loses_accuracy_is_left_out(
    tmp_path: Path, held_out: tuple[list[str], list[int]]
) -> None:
    texts, labels = held_out
    tokenizer = load_tokenizer(DEFAULT_BASE)
    write_tokenizer_json(tokenizer, 32, tmp_path / "tokenizer.json")
    model = tiny_model(LABELS, seed=2)
    reference = predict_logits(model, tokenizer, texts[:8], max_length=32)
    # A negative tolerance fails any int8 graph: the gate, not the quantiser, is under test.
    result = export_variants(
        model,
        tmp_path / "tokenizer.json",
        serving_contract(model, tokenizer, "tiny", 32),
        texts[:8],
        labels[:8],
        reference,
        tmp_path,
        ExportOptions(fp16="off", int8_max_accuracy_drop=-1.0),
    )
    assert set(result.files) == {"fp32"}
    assert result.device_variant == {"cpu": "fp32", "cuda": "fp32"}
    assert any(note.startswith("int8 left out") for note in result.notes)
