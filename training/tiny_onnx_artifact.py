"""A tiny, real, servable artifact built without torch or transformers, for the serving tests.

Serving needs neither torch nor transformers, so neither do the tests of the serving tiers.
This writes the artifact layout of `service.backend.artifact` (manifest.json, model.onnx,
model.int8.onnx, tokenizer.json, metrics.json, README.md) from numpy weights in about a second:

    tokenizer   WordPiece over the words of the bundled sample headlines: BERT normalizer (lowercase)
                and pre-tokenizer, [CLS] text [SEP], [PAD] = 0, [UNK]
    graph       input_ids, attention_mask (+ token_type_ids) int64 [batch, seq]
                -> Gather embeddings (+ type embeddings) -> MatMul, Add, Tanh
                -> mean over the tokens the attention mask keeps -> MatMul, Add -> logits [batch, labels]

The embeddings and the hidden layer are random from the seed; the classifier head is fitted by
ridge least squares on the pooled features of the sample headlines, so predictions follow the
text (not constant), and a numpy twin of the graph checks the ONNX file before it is written.
Everything is a function of the seed: two builds give byte-identical files.
"""

from __future__ import annotations

import csv
import json
import logging
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from service.backend.artifact import (
    MANIFEST_NAME,
    TOKENIZER_NAME,
    Manifest,
    Precision,
    VariantInfo,
    sha256_file,
    write_manifest,
)

SAMPLE_CSV = Path(__file__).parent / "sample_data" / "headlines.csv"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # [PAD] first: pad id 0
FP32_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"
OPSET = 17
IR_VERSION = 8  # what opset 17 needs; old enough for any onnxruntime that serves opset 17
EMBED_DIM = 64
HIDDEN_DIM = 96
RIDGE = 1.0
TARGET_SCALE = 6.0
"""One-hot targets scaled so a fitted head gives confident, but not saturated, softmax scores."""


class TinyArtifactError(Exception):
    """The builder could not make a consistent artifact (bad labels, a graph that disagrees)."""


@dataclass(frozen=True)
class TinyWeights:
    """Every tensor of the graph; `pooled` and `logits` are the graph's math in numpy."""

    embeddings: np.ndarray  # [vocab, EMBED_DIM]
    type_embeddings: np.ndarray | None  # [2, EMBED_DIM] when the model takes token_type_ids
    hidden: np.ndarray  # [EMBED_DIM, HIDDEN_DIM]
    hidden_bias: np.ndarray  # [HIDDEN_DIM]
    head: np.ndarray  # [HIDDEN_DIM, labels]
    head_bias: np.ndarray  # [labels]

    def pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Features before the head, every token of type 0 (what a single text has)."""
        states = self.embeddings[ids]
        if self.type_embeddings is not None:
            states = states + self.type_embeddings[0]
        hidden = np.tanh(states @ self.hidden + self.hidden_bias)
        weights = mask.astype(np.float32)[:, :, None]
        counts = np.maximum(weights.sum(axis=1), 1.0)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / counts
        return pooled.astype(np.float32)

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.pooled(ids, mask) @ self.head + self.head_bias
        return out.astype(np.float32)


def read_sample(path: Path = SAMPLE_CSV) -> tuple[list[str], list[str]]:
    """(texts, labels) of the bundled headlines; the csv module only, no pandas."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(r["text"].strip(), r["label"].strip()) for r in csv.DictReader(handle)]
    rows = [(t, label) for t, label in rows if t and label]
    return [t for t, _ in rows], [label for _, label in rows]


def build_vocabulary(texts: Sequence[str]) -> dict[str, int]:
    """Special tokens, every ASCII letter, digit and punctuation mark (alone and as a `##`
    continuation, so an unseen word is spelt out rather than [UNK]), then every word of
    `texts`, most frequent first. Built by hand: the WordPiece trainer breaks ties in hash
    order, so its vocabulary changes from run to run."""
    normalizer = normalizers.BertNormalizer(lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    words = Counter(
        word
        for text in texts
        for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text))
    )
    characters = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    tokens = [*SPECIAL_TOKENS, *characters, *(f"##{c}" for c in characters)]
    tokens += sorted(words, key=lambda word: (-words[word], word))
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def build_tokenizer(texts: Sequence[str], max_length: int) -> Tokenizer:
    """BERT-style WordPiece whose vocabulary is the words of `texts`."""
    tokenizer = Tokenizer(models.WordPiece(build_vocabulary(texts), unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece()
    # As training's tokenizer.json: truncate to max_length, pad a batch to its longest text.
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=SPECIAL_TOKENS.index("[PAD]"), pad_token="[PAD]")
    return tokenizer


def encode_padded(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    encodings = tokenizer.encode_batch(list(texts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    return ids, mask


def class_targets(sample_labels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Class index per sample row, -1 for rows that teach no label.

    Rows whose label is one of `labels` teach that label. When `labels` shares no name with
    the sample (e.g. ["neg", "pos"]), the sample's labels, sorted, are dealt round-robin onto
    `labels`, so the head still separates texts.
    """
    index = {name: i for i, name in enumerate(labels)}
    if not index.keys() & set(sample_labels):
        index = {name: i % len(labels) for i, name in enumerate(sorted(set(sample_labels)))}
    return np.array([index.get(label, -1) for label in sample_labels], dtype=np.int64)


def fit_head(
    features: np.ndarray, classes: np.ndarray, n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares from pooled features to scaled, centred one-hot targets."""
    rows = classes >= 0
    x = np.hstack([features[rows], np.ones((int(rows.sum()), 1), dtype=np.float32)]).astype(
        np.float64
    )
    targets = np.full((len(x), n_labels), -TARGET_SCALE / n_labels)
    targets[np.arange(len(x)), classes[rows]] += TARGET_SCALE
    gram = x.T @ x + RIDGE * np.eye(x.shape[1])
    solution = np.linalg.solve(gram, x.T @ targets).astype(np.float32)
    return solution[:-1], solution[-1]


def random_weights(
    vocab_size: int, n_labels: int, *, seed: int, token_type_ids: bool
) -> TinyWeights:
    """Everything but the head, which starts at zero and is fitted afterwards."""
    rng = np.random.default_rng(seed)
    return TinyWeights(
        embeddings=rng.normal(0.0, 1.0, (vocab_size, EMBED_DIM)).astype(np.float32),
        type_embeddings=(
            rng.normal(0.0, 0.1, (2, EMBED_DIM)).astype(np.float32) if token_type_ids else None
        ),
        hidden=rng.normal(0.0, EMBED_DIM**-0.5, (EMBED_DIM, HIDDEN_DIM)).astype(np.float32),
        hidden_bias=rng.normal(0.0, 0.1, HIDDEN_DIM).astype(np.float32),
        head=np.zeros((HIDDEN_DIM, n_labels), dtype=np.float32),
        head_bias=np.zeros(n_labels, dtype=np.float32),
    )


def classifier_graph(weights: TinyWeights, *, output_name: str = "logits") -> onnx.ModelProto:
    """The ONNX graph of `TinyWeights.logits`, with dynamic batch and sequence axes."""
    n_labels = int(weights.head.shape[1])
    token_axes = ["batch", "sequence"]
    names = ["input_ids", "attention_mask"]
    if weights.type_embeddings is not None:
        names.append("token_type_ids")
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, token_axes) for n in names]
    output = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", n_labels])
    tensors = {
        "embeddings": weights.embeddings,
        "hidden_weight": weights.hidden,
        "hidden_bias": weights.hidden_bias,
        "head_weight": weights.head,
        "head_bias": weights.head_bias,
        "token_axis": np.array([1], dtype=np.int64),
        "feature_axis": np.array([2], dtype=np.int64),
        "one": np.array(1.0, dtype=np.float32),
    }
    nodes = [helper.make_node("Gather", ["embeddings", "input_ids"], ["token_states"], axis=0)]
    states = "token_states"
    if weights.type_embeddings is not None:
        tensors["type_embeddings"] = weights.type_embeddings
        nodes += [
            helper.make_node("Gather", ["type_embeddings", "token_type_ids"], ["type_states"]),
            helper.make_node("Add", ["token_states", "type_states"], ["states"]),
        ]
        states = "states"
    nodes += [
        helper.make_node("MatMul", [states, "hidden_weight"], ["projected"]),
        helper.make_node("Add", ["projected", "hidden_bias"], ["biased"]),
        helper.make_node("Tanh", ["biased"], ["hidden"]),
        # Mean over the tokens the mask keeps: padding never changes a text's logits.
        helper.make_node("Cast", ["attention_mask"], ["mask_float"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_float", "feature_axis"], ["mask_3d"]),
        helper.make_node("Mul", ["hidden", "mask_3d"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "token_axis"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask_3d", "token_axis"], ["counts"], keepdims=0),
        helper.make_node("Max", ["counts", "one"], ["safe_counts"]),
        helper.make_node("Div", ["summed", "safe_counts"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "head_weight"], ["head_out"]),
        helper.make_node("Add", ["head_out", "head_bias"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_headline_classifier",
        inputs,
        [output],
        initializer=[numpy_helper.from_array(array, name) for name, array in tensors.items()],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="training.tiny_onnx_artifact",
    )
    onnx.checker.check_model(model)
    return model


def run_onnx(path: Path, ids: np.ndarray, mask: np.ndarray, token_type_ids: bool) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": mask}
    if token_type_ids:
        feeds["token_type_ids"] = np.zeros_like(ids)
    return np.asarray(session.run(["logits"], feeds)[0])


def quantize_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8, as training does: weights quantised once, activations per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs advice to pre-process the graph on the root logger; nothing to do
    # for a graph this small, and tests would print it on every build.
    root = logging.getLogger()
    quiet = logging.Filter("onnxruntime")  # passes only onnxruntime.* records, drops root's
    root.addFilter(quiet)
    try:
        quantize_dynamic(fp32, out, weight_type=QuantType.QInt8, per_channel=False)
    finally:
        root.removeFilter(quiet)


def parity(logits: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    return {
        "max_abs_logit_diff": float(np.abs(logits - reference).max()),
        "argmax_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
    }


def build_onnx_artifact(
    out_dir: Path,
    *,
    labels: Sequence[str] | None = None,
    max_length: int = 32,
    seed: int = 0,
    token_type_ids: bool = False,
    int8: bool = True,
) -> Path:
    """Write a servable artifact into `out_dir` (created, files replaced); return `out_dir`.

    `labels` defaults to the sample's labels, sorted (as training orders them). The CPU
    variant is fp32 even when int8 is written: tests should not depend on a tiny model's int8.
    """
    out_dir = Path(out_dir)
    texts, sample_labels = read_sample()
    labels = sorted(set(sample_labels)) if labels is None else list(labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise TinyArtifactError(f"labels must be at least 2 unique names, got {labels}")
    out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(texts, max_length)
    ids, mask = encode_padded(tokenizer, texts)
    weights = random_weights(
        tokenizer.get_vocab_size(), len(labels), seed=seed, token_type_ids=token_type_ids
    )
    classes = class_targets(sample_labels, labels)
    head, head_bias = fit_head(weights.pooled(ids, mask), classes, len(labels))
    weights = replace(weights, head=head, head_bias=head_bias)
    expected = weights.logits(ids, mask)

    onnx.save(classifier_graph(weights), str(out_dir / FP32_FILE))
    fp32_logits = run_onnx(out_dir / FP32_FILE, ids, mask, token_type_ids)
    fp32_parity = parity(fp32_logits, expected)
    if fp32_parity["max_abs_logit_diff"] > 1e-3:
        raise TinyArtifactError(f"{FP32_FILE} disagrees with its numpy twin: {fp32_parity}")
    variants: dict[Precision, VariantInfo] = {
        "fp32": VariantInfo(file=FP32_FILE, precision="fp32", parity=fp32_parity)
    }
    if int8:
        quantize_int8(out_dir / FP32_FILE, out_dir / INT8_FILE)
        int8_logits = run_onnx(out_dir / INT8_FILE, ids, mask, token_type_ids)
        variants["int8"] = VariantInfo(
            file=INT8_FILE, precision="int8", parity=parity(int8_logits, fp32_logits)
        )
    else:
        (out_dir / INT8_FILE).unlink(missing_ok=True)

    tokenizer.save(str(out_dir / TOKENIZER_NAME))
    taught = classes >= 0
    fit_accuracy = float((fp32_logits.argmax(1)[taught] == classes[taught]).mean())
    metrics = {"sample_fit_accuracy": fit_accuracy, "sample_rows": int(taught.sum())}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(
        "# Tiny test model\n\nRandom embeddings and a least-squares head fitted on the bundled "
        f"sample headlines (accuracy on those same rows: {fit_accuracy:.2f}). For tests only.\n",
        encoding="utf-8",
    )
    manifest = Manifest(
        model_name="tiny-onnx",
        model_version=f"tiny-onnx-seed{seed}-{sha256_file(out_dir / FP32_FILE)[:8]}",
        labels=labels,
        max_length=max_length,
        input_names=["input_ids", "attention_mask"]
        + (["token_type_ids"] if token_type_ids else []),
        variants=variants,
        device_variant={"cpu": "fp32", "cuda": "fp32"},
        base_model="tiny-onnx (random embeddings, fitted head; for tests)",
        dataset={"source": "training/sample_data/headlines.csv", "rows": len(texts)},
        metrics={"sample_fit_accuracy": fit_accuracy},
    )
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    write_manifest(out_dir, manifest)
    return out_dir
