"""The fine-tuning loop: reproducible, length-grouped batches, best epoch kept."""

from __future__ import annotations

import torch

from training.base_model import DEFAULT_BASE, load_tokenizer
from training.data import SAMPLE_DATA, load_splits
from training.finetune import TrainConfig, epoch_batches, train
from training.fixtures import tiny_model


def test_same_seed_gives_the_same_run() -> None:
    splits = load_splits(SAMPLE_DATA, seed=5)
    tokenizer = load_tokenizer(DEFAULT_BASE)
    config = TrainConfig(
        epochs=2, batch_size=64, learning_rate=3e-3, max_length=24, seed=5, progress=False
    )
    first = train(tiny_model(splits.label_names, seed=5), tokenizer, splits, config)
    second = train(tiny_model(splits.label_names, seed=5), tokenizer, splits, config)
    assert first.step_losses == second.step_losses
    assert first.history == second.history
    assert first.best_epoch in (1, 2)
    best = max(first.history, key=lambda row: row["val_macro_f1"])
    assert first.best_val_macro_f1 == best["val_macro_f1"]


def test_length_grouped_batches_cover_every_row_once_and_pad_less() -> None:
    lengths = [(i * 7919) % 40 + 3 for i in range(1000)]
    grouped = epoch_batches(lengths, 16, torch.Generator().manual_seed(0), group_by_length=True)
    plain = epoch_batches(lengths, 16, torch.Generator().manual_seed(0), group_by_length=False)
    for batches in (grouped, plain):
        assert sorted(row for batch in batches for row in batch) == list(range(1000))
        assert len(batches) == 63 and sum(len(b) < 16 for b in batches) == 1

    def padded(batches: list[list[int]]) -> int:
        return sum(max(lengths[r] for r in batch) * len(batch) for batch in batches)

    assert padded(grouped) < 0.8 * padded(plain)
