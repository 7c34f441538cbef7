"""The fine-tuning loop: AdamW with linear warm-up and decay, gradient accumulation,
validation macro-F1 after every epoch, early stopping, and the best epoch's weights kept."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import f1_score
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from training.data import Split, Splits
from training.evaluate import predict_logits
from training.progress import Progress


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 64
    seed: int = 42
    gradient_accumulation: int = 1
    patience: int = 2
    """Stop after this many epochs without a better validation macro-F1 (0: never stop early)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (smoke tests); None: run every epoch."""
    freeze_embeddings: bool = True
    """Keep the word-embedding table fixed: half the parameters, less over-fitting on small data."""
    group_by_length: bool = True
    """Batch texts of similar length together (within shuffled chunks): less padding computed."""
    device: str = "auto"
    progress: bool = True


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_val_macro_f1: float = -1.0
    stopped_early: bool = False
    device: str = "cpu"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, splits: Splits, config: TrainConfig
) -> TrainResult:
    """Fine-tune `model` in place; on return it holds the best epoch's weights, in eval mode."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)  # type: ignore[arg-type]
    result = TrainResult(device=str(device))

    batches_per_epoch = math.ceil(len(splits.train) / config.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / config.gradient_accumulation)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, config.weight_decay), lr=config.learning_rate
    )
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, round(config.warmup_ratio * total_steps), total_steps
    )
    generator = torch.Generator().manual_seed(config.seed)
    lengths = [
        len(ids)
        for ids in tokenizer(splits.train.texts, truncation=True, max_length=config.max_length)[
            "input_ids"
        ]
    ]
    best_state: dict[str, torch.Tensor] | None = None
    epochs_without_gain = 0
    step = 0

    progress = Progress(total_steps, "fine-tuning", enabled=config.progress)
    for epoch in range(1, config.epochs + 1):
        model.train()
        batches = epoch_batches(lengths, config.batch_size, generator, config.group_by_length)
        running = 0.0
        for index, rows in enumerate(batches):
            loss = _batch_loss(model, tokenizer, splits.train, rows, config, device)
            (loss / config.gradient_accumulation).backward()  # type: ignore[no-untyped-call]
            running += loss.item() / config.gradient_accumulation
            last_batch = index + 1 == len(batches)
            if (index + 1) % config.gradient_accumulation and not last_batch:
                continue
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            result.step_losses.append(running)
            progress.update(epoch=epoch, loss=f"{running:.4f}")
            running = 0.0
            if step >= total_steps:
                break

        row = _validate(model, tokenizer, splits.validation, config, epoch)
        result.history.append(row)
        progress.write(
            f"epoch {epoch}: val loss {row['val_loss']:.4f}  accuracy {row['val_accuracy']:.4f}  "
            f"macro-F1 {row['val_macro_f1']:.4f}"
        )
        if row["val_macro_f1"] > result.best_val_macro_f1:
            result.best_val_macro_f1 = row["val_macro_f1"]
            result.best_epoch = epoch
            best_state = copy.deepcopy(model.state_dict())
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        if step >= total_steps:
            break
        if config.patience and epochs_without_gain >= config.patience:
            result.stopped_early = True
            break
    progress.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()  # type: ignore[no-untyped-call]
    return result


def epoch_batches(
    lengths: list[int], batch_size: int, generator: torch.Generator, group_by_length: bool
) -> list[list[int]]:
    """Shuffled batches of row indices. Grouped: rows are sorted by length inside shuffled
    chunks of 50 batches, then the batches are shuffled, so each batch pads little."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i], reverse=True)
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[b] for b in shuffled]


def _parameter_groups(model: PreTrainedModel, weight_decay: float) -> list[dict[str, object]]:
    """No weight decay on biases and LayerNorm weights (the usual BERT recipe)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _batch_loss(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: Split,
    rows: list[int],
    config: TrainConfig,
    device: torch.device,
) -> torch.Tensor:
    batch = tokenizer(
        [data.texts[i] for i in rows],
        padding=True,
        truncation=True,
        max_length=config.max_length,
        return_tensors="pt",
    ).to(device)
    labels = torch.tensor([data.labels[i] for i in rows], device=device)
    return model(**batch, labels=labels).loss  # type: ignore[no-any-return]


def _validate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: Split,
    config: TrainConfig,
    epoch: int,
) -> dict[str, float]:
    logits = predict_logits(model, tokenizer, data.texts, max_length=config.max_length)
    labels = np.asarray(data.labels)
    loss = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits), torch.from_numpy(labels)
    ).item()
    predicted = logits.argmax(axis=1)
    return {
        "epoch": float(epoch),
        "val_loss": float(loss),
        "val_accuracy": float((predicted == labels).mean()),
        "val_macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
    }
