"""A Hugging Face checkpoint the server can serve, and what the manifest must record about it.

Nothing here is written per architecture: the facts come from the config, the tokenizer and
(for the inputs) the exported graph. A checkpoint the server cannot serve is refused with one
line saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from training.errors import TrainingError

MANIFEST_MAX_LENGTH = 8192
"""The manifest's ceiling on max_length."""
UNSET_LENGTH = 1_000_000
"""Tokenizers without a limit report a huge model_max_length (transformers' VERY_LARGE_INTEGER)."""


class UnservableModel(TrainingError):
    """The checkpoint loads, but the server could not serve it; the message says why."""


@dataclass(frozen=True)
class ServingContract:
    """What the server must know about a model instead of assuming it (the manifest fields)."""

    labels: list[str]
    activation: Literal["softmax", "sigmoid"]
    max_length: int
    truncation_side: Literal["right", "left"]
    pad_token_id: int
    do_lower_case: bool
    architecture: str


def optimum_text_classification_types() -> set[str]:
    # Importing the ONNX configs is what registers them with the TasksManager.
    import optimum.exporters.onnx.model_configs  # noqa: F401
    from optimum.exporters.tasks import TasksManager

    return set(TasksManager.get_supported_model_type_for_task("text-classification", "onnx"))


def check_architecture(config: PretrainedConfig, where: str) -> None:
    """Refuse what the ONNX path cannot carry: seq2seq models, types optimum cannot export."""
    model_type = getattr(config, "model_type", "") or "?"
    if getattr(config, "is_encoder_decoder", False):
        raise UnservableModel(
            f"{where}: {model_type} is an encoder-decoder (seq2seq) model; the server runs "
            "encoder classifiers (BERT, RoBERTa, DeBERTa, ELECTRA, DistilBERT, ...)"
        )
    supported = optimum_text_classification_types()
    if model_type not in supported:
        raise UnservableModel(
            f"{where}: model type {model_type!r} has no ONNX text-classification export in "
            f"optimum (supported: {', '.join(sorted(supported))})"
        )


def check_classifier(config: PretrainedConfig, where: str, pairs: bool = False) -> None:
    """Refuse a checkpoint whose saved head is not a sequence classifier: loading it with
    AutoModelForSequenceClassification would give a random head that answers noise. A pair
    model may have one logit (a cross-encoder's relevance score, read through a sigmoid)."""
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise UnservableModel(
            f"{where}: a {', '.join(architectures)} checkpoint, not a sequence classifier; "
            "fine-tune it first (python -m training train --base-model ...)"
        )
    if pairs and config.num_labels == 1:
        return
    if config.problem_type == "regression" or config.num_labels < 2:
        raise UnservableModel(
            f"{where}: a regression head ({config.num_labels} output); the server serves "
            "classifiers with at least 2 labels"
        )


def check_tokenizer(tokenizer: PreTrainedTokenizerBase, where: str) -> None:
    if not tokenizer.is_fast:
        raise UnservableModel(
            f"{where}: {type(tokenizer).__name__} is a slow (Python) tokenizer; the server "
            "needs a fast one (tokenizer.json)"
        )
    if tokenizer.pad_token_id is None:
        raise UnservableModel(f"{where}: the tokenizer has no pad token to batch with")


def model_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The most tokens the model takes: the tokenizer's limit and the position table's, less
    any offset (RoBERTa-family position ids start after the pad id, so 514 rows give 512)."""
    limits = []
    if 0 < tokenizer.model_max_length < UNSET_LENGTH:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(model.config, "max_position_embeddings", None)
    # DeBERTa-v2/v3 without absolute positions has no table; its config value still bounds the
    # relative buckets it was trained with, so it counts as the limit.
    if isinstance(positions, int) and positions > 0:
        limits.append(positions - _position_offset(model))
    return min(limits) if limits else None


def _position_offset(model: PreTrainedModel) -> int:
    embeddings = getattr(model.base_model, "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    padding_idx = getattr(table, "padding_idx", None)
    return 0 if padding_idx is None else int(padding_idx) + 1


def serving_contract(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    where: str,
    max_length: int | None = None,
) -> ServingContract:
    """Read the contract from the model and tokenizer; `max_length` may only lower the limit."""
    config = model.config
    check_tokenizer(tokenizer, where)
    limit = model_max_length(model, tokenizer)
    if max_length is None:
        if limit is None:
            raise UnservableModel(
                f"{where}: no maximum length in config or tokenizer; pass --max-length"
            )
        max_length = min(limit, MANIFEST_MAX_LENGTH)
    elif limit is not None and max_length > limit:
        raise UnservableModel(f"--max-length {max_length}: {where} takes at most {limit} tokens")
    id2label = config.id2label or {}
    labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    if len(set(labels)) != len(labels):
        raise UnservableModel(f"{where}: config.id2label has duplicate labels {labels}")
    side = tokenizer.truncation_side
    return ServingContract(
        labels=labels,
        # One logit: sigmoid, as transformers' pipeline scores it (a cross-encoder's relevance).
        activation="sigmoid"
        if config.problem_type == "multi_label_classification" or config.num_labels == 1
        else "softmax",
        max_length=int(max_length),
        truncation_side="left" if side == "left" else "right",
        pad_token_id=int(tokenizer.pad_token_id),
        do_lower_case=bool(getattr(tokenizer, "do_lower_case", False)),
        architecture=str(config.model_type),
    )
