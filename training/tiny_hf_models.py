"""Tiny random Hugging Face classifiers of several architectures, built from config, no hub.

Each builder saves a model and its fast tokenizer with `save_pretrained` into a directory: the
"model you already have" that `python -m training export --model DIR` turns into an artifact.
The tokenizers are trained here on the bundled sample headlines (WordPiece for BERT-likes,
byte-level BPE for RoBERTa, Unigram for DeBERTa-v2 and XLM-RoBERTa), so nothing is fetched.
Tests and the lead's serving tests share these builders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DebertaV2TokenizerFast,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertTokenizerFast,
    ElectraConfig,
    ElectraForSequenceClassification,
    ElectraTokenizerFast,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
    RobertaTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    XLMRobertaTokenizerFast,
)

from training.data import sample_texts

LABELS = ["business", "entertainment", "health", "scitech"]
MULTI_LABELS = ["politics", "economy", "science", "sport", "culture"]
SHAPE = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "initializer_range": 0.2,
}
"""A wide initialisation spreads the random logits, so a 1e-4 comparison means something."""
MAX_POSITIONS = 128
VOCAB_SIZE = 600
"""Trained tokenizers stop at this many entries: small embeddings, still real sub-words."""

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
"""In RoBERTa's order: pad is id 1, which the server must pad with."""


def _labels(names: list[str]) -> dict[str, object]:
    return {
        "id2label": dict(enumerate(names)),
        "label2id": {name: i for i, name in enumerate(names)},
    }


def wordpiece_tokenizer(lowercase: bool = True) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=BERT_SPECIALS)
    tokenizer.train_from_iterator(sample_texts(), trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
    return tokenizer


def bpe_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=ROBERTA_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(sample_texts(), trainer)
    from tokenizers import decoders

    tokenizer.decoder = decoders.ByteLevel()
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", eos), ("<s>", bos))
    return tokenizer


def unigram_tokenizer(specials: list[str], bos: str, eos: str, unk: str) -> Tokenizer:
    """SentencePiece-style Unigram (Metaspace pre-tokenizer), trained without sentencepiece."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials, unk_token=unk)
    tokenizer.train_from_iterator(sample_texts(), trainer)
    from tokenizers import decoders

    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} $B:1 {eos}:1",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in (bos, eos)],
    )
    return tokenizer


def _bert_fast(cls: type[PreTrainedTokenizerFast], max_length: int) -> PreTrainedTokenizerFast:
    return cls(
        tokenizer_object=wordpiece_tokenizer(),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def _roberta_fast(
    cls: type[PreTrainedTokenizerFast], backend: Tokenizer, truncation_side: str = "right"
) -> PreTrainedTokenizerFast:
    return cls(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=MAX_POSITIONS,
        truncation_side=truncation_side,
    )


def _save(out_dir: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast) -> Path:
    out_dir = Path(out_dir)
    model.eval()  # type: ignore[no-untyped-call]
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_bert(out_dir: Path, seed: int = 0) -> Path:
    """BERT with token-type embeddings (its graph takes token_type_ids)."""
    model, tokenizer = _bert_with_types(LABELS, seed)
    return _save(out_dir, model, tokenizer)


def _bert_with_types(
    labels: list[str], seed: int
) -> tuple[BertForSequenceClassification, PreTrainedTokenizerFast]:
    torch.manual_seed(seed)
    tokenizer = _bert_fast(BertTokenizerFast, MAX_POSITIONS)
    config = BertConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(tokenizer),
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=2,
        **SHAPE,
        **_labels(labels),
    )
    return BertForSequenceClassification(config), tokenizer  # type: ignore[no-untyped-call]


def build_roberta(out_dir: Path, seed: int = 0) -> Path:
    """RoBERTa: byte-level BPE, pad id 1, positions offset by pad id + 1."""
    torch.manual_seed(seed)
    tokenizer = _roberta_fast(RobertaTokenizerFast, bpe_tokenizer())
    config = RobertaConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(tokenizer),
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **SHAPE,
        **_labels(LABELS),
    )
    return _save(out_dir, RobertaForSequenceClassification(config), tokenizer)  # type: ignore[no-untyped-call]


def build_deberta_v2(out_dir: Path, seed: int = 0) -> Path:
    """DeBERTa-v2/v3 shape: relative attention, no absolute positions, a Unigram tokenizer."""
    torch.manual_seed(seed)
    backend = unigram_tokenizer(BERT_SPECIALS, "[CLS]", "[SEP]", "[UNK]")
    tokenizer = DebertaV2TokenizerFast(
        tokenizer_object=backend,
        bos_token="[CLS]",
        eos_token="[SEP]",
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=MAX_POSITIONS,
    )
    config = DebertaV2Config(  # type: ignore[no-untyped-call]
        vocab_size=len(tokenizer),
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        relative_attention=True,
        position_buckets=32,
        max_relative_positions=-1,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        type_vocab_size=0,
        pad_token_id=0,
        **SHAPE,
        **_labels(LABELS),
    )
    return _save(out_dir, DebertaV2ForSequenceClassification(config), tokenizer)  # type: ignore[no-untyped-call]


def build_electra(out_dir: Path, seed: int = 0) -> Path:
    """ELECTRA discriminator shape: embedding size smaller than hidden size, token types."""
    torch.manual_seed(seed)
    tokenizer = _bert_fast(ElectraTokenizerFast, MAX_POSITIONS)
    config = ElectraConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(tokenizer),
        embedding_size=16,
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        **SHAPE,
        **_labels(LABELS),
    )
    return _save(out_dir, ElectraForSequenceClassification(config), tokenizer)  # type: ignore[no-untyped-call]


def build_distilbert(out_dir: Path, seed: int = 0) -> Path:
    """DistilBERT: no token types; a tokenizer longer than the model (model max wins)."""
    torch.manual_seed(seed)
    tokenizer = _bert_fast(DistilBertTokenizerFast, 512)
    config = DistilBertConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(tokenizer),
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=MAX_POSITIONS,
        initializer_range=SHAPE["initializer_range"],
        **_labels(LABELS),
    )
    return _save(out_dir, DistilBertForSequenceClassification(config), tokenizer)


def build_xlm_roberta_multilabel(out_dir: Path, seed: int = 0) -> Path:
    """Multi-label (sigmoid) XLM-RoBERTa with a Unigram tokenizer that truncates on the left."""
    torch.manual_seed(seed)
    backend = unigram_tokenizer(ROBERTA_SPECIALS, "<s>", "</s>", "<unk>")
    tokenizer = _roberta_fast(XLMRobertaTokenizerFast, backend, truncation_side="left")
    config = XLMRobertaConfig(  # type: ignore[no-untyped-call]
        vocab_size=len(tokenizer),
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        problem_type="multi_label_classification",
        **SHAPE,
        **_labels(MULTI_LABELS),
    )
    return _save(out_dir, XLMRobertaForSequenceClassification(config), tokenizer)  # type: ignore[no-untyped-call]


NLI_LABELS = ["entailment", "neutral", "contradiction"]
RELEVANCE_LABEL = ["relevance"]


def _bert_pairs(out_dir: Path, labels: list[str], seed: int) -> Path:
    model, tokenizer = _bert_with_types(labels, seed)
    with torch.no_grad():  # segment B must change the answer, or type ids go untested
        model.bert.embeddings.token_type_embeddings.weight[1].mul_(4.0)
    return _save(out_dir, model, tokenizer)


def build_bert_nli(out_dir: Path, seed: int = 0) -> Path:
    """A sentence-pair classifier (natural-language inference's three labels), BERT with
    token types: served with `export --pairs`."""
    return _bert_pairs(out_dir, NLI_LABELS, seed)


def build_bert_cross_encoder(out_dir: Path, seed: int = 0) -> Path:
    """A cross-encoder reranker: BERT over (query, document) pairs, one logit (relevance)."""
    return _bert_pairs(out_dir, RELEVANCE_LABEL, seed)


PAIR_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "bert-nli": build_bert_nli,
    "bert-cross-encoder": build_bert_cross_encoder,
}
"""Sentence-pair models, exported with `--pairs`."""

BUILDERS: dict[str, Callable[[Path], Path]] = {
    "bert": build_bert,
    "roberta": build_roberta,
    "deberta-v2": build_deberta_v2,
    "electra": build_electra,
    "distilbert": build_distilbert,
    "xlm-roberta-multilabel": build_xlm_roberta_multilabel,
}
"""name -> builder(out_dir) -> out_dir, one per architecture the export tests cover."""


def export_tiny(name: str, work_dir: Path, *extra_args: str) -> tuple[Path, Path]:
    """Build `BUILDERS[name]` under `work_dir` and export it through the CLI, as a user would
    (`python -m training export --model DIR`). Returns (checkpoint dir, artifact dir).

    The CPU variant is pinned to fp32 unless `extra_args` says otherwise: serving tests should
    not depend on a timing."""
    from training.cli import main

    model_dir = {**BUILDERS, **PAIR_BUILDERS}[name](Path(work_dir) / f"{name}-checkpoint")
    artifact = Path(work_dir) / f"{name}-artifact"
    args = ["export", "--model", str(model_dir), "--output", str(artifact)]
    if "--cpu-variant" not in extra_args:
        args += ["--cpu-variant", "fp32"]
    code = main([*args, *extra_args])
    if code != 0:
        raise RuntimeError(f"export of the tiny {name} model exited {code}")
    return model_dir, artifact
