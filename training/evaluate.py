"""Predictions, metrics and the evaluation figures (confusion matrix, training curves)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@torch.inference_mode()
def predict_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_length: int,
    batch_size: int = 64,
) -> np.ndarray:
    """Logits for `texts`, in order, with the model in eval mode on its own device."""
    model.eval()  # type: ignore[no-untyped-call]
    device = next(model.parameters()).device
    accepted = set(inspect.signature(model.forward).parameters)
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        # A tokenizer may give inputs the model does not take (BERT's tokenizer on DistilBERT).
        feeds = {k: v for k, v in batch.items() if k in accepted}
        chunks.append(model(**feeds).logits.float().cpu().numpy())
    if not chunks:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    return np.concatenate(chunks)


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], label_names: list[str]
) -> dict[str, object]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    ids = list(range(len(label_names)))
    report = classification_report(
        y_true, y_pred, labels=ids, target_names=label_names, output_dict=True, zero_division=0
    )
    per_class = {
        name: {k: float(report[name][k]) for k in ("precision", "recall", "f1-score", "support")}
        for name in label_names
    }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "labels": label_names,
    }


def save_confusion_matrix(
    matrix: list[list[int]], label_names: list[str], path: Path, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.2 * len(label_names) + 2.5, 1.1 * len(label_names) + 2))
    image = ax.imshow(data, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set(
        xticks=range(len(label_names)),
        yticks=range(len(label_names)),
        xticklabels=label_names,
        yticklabels=label_names,
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    threshold = data.max() / 2 if data.size else 0
    for (row, col), value in np.ndenumerate(data):
        ax.text(
            col,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > threshold else "black",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_training_curves(
    history: list[dict[str, float]], step_losses: list[float], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(10, 4))
    if step_losses:
        loss_ax.plot(
            range(1, len(step_losses) + 1), step_losses, alpha=0.5, label="train loss (step)"
        )
    steps_per_epoch = len(step_losses) / max(len(history), 1)
    epochs = [row["epoch"] for row in history]
    loss_ax.plot(
        [e * steps_per_epoch for e in epochs],
        [row["val_loss"] for row in history],
        "o-",
        label="validation loss",
    )
    loss_ax.set(xlabel="optimizer step", ylabel="loss", title="Loss")
    loss_ax.legend()
    score_ax.plot(
        epochs, [row["val_accuracy"] for row in history], "o-", label="validation accuracy"
    )
    score_ax.plot(
        epochs, [row["val_macro_f1"] for row in history], "s-", label="validation macro-F1"
    )
    score_ax.set(xlabel="epoch", ylabel="score", title="Validation", ylim=(0, 1.02))
    score_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
