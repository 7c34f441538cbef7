"""The offline default base: all-MiniLM-L6-v2's BERT weights loaded into DistilBERT."""

from __future__ import annotations

import pytest
import torch
from transformers import BertModel, DistilBertForSequenceClassification

from training.base_model import (
    DEFAULT_BASE,
    bert_to_distilbert,
    default_base_path,
    load_classifier,
    load_tokenizer,
)
from training.data import SAMPLE_DATA, load_table

pytestmark = pytest.mark.slow


@torch.inference_mode()
def test_distilbert_hidden_states_equal_bert_on_real_text() -> None:
    bert = BertModel.from_pretrained(default_base_path(), add_pooling_layer=False).eval()
    distil = bert_to_distilbert(bert)
    assert distil.config.dim == 384 and distil.config.n_layers == 6 and distil.config.n_heads == 12
    tokenizer = load_tokenizer(DEFAULT_BASE)
    texts = load_table(SAMPLE_DATA)["text"].tolist()[:32]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert set(batch) == {"input_ids", "attention_mask"}
    expected = bert(**batch).last_hidden_state
    actual = distil(**batch).last_hidden_state
    real_tokens = batch["attention_mask"].bool()
    assert (expected - actual)[real_tokens].abs().max().item() < 1e-5


def test_default_classifier_has_distilberts_own_head() -> None:
    model = load_classifier(DEFAULT_BASE, ["a", "b", "c"])
    assert isinstance(model, DistilBertForSequenceClassification)
    assert model.pre_classifier.in_features == 384 and model.classifier.out_features == 3
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
