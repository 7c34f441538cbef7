"""`export --model`: a sequence-classification checkpoint you already have -> a served artifact.

The same exporter as training (`training.export.export_variants`, `write_artifact`); only the
check texts differ: no test split here, so the fp32 graph must match PyTorch on sample texts
(short headlines, plus texts longer than the model's maximum, so truncation is exercised too),
and int8/fp16 must agree with fp32's decisions.

A pair model (`--pairs`: NLI, paraphrase, a cross-encoder) is checked on sentence pairs instead,
cut as the server cuts them (`longest_first`), and the manifest records `pairs: true`; it may
have a single logit (a cross-encoder's relevance score, served through a sigmoid).
"""

from __future__ import annotations

import inspect
import itertools
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from service.backend.artifact import Manifest, QualityGate
from service.backend.tokenizer import TextOrPair
from training.artifact_writer import ArtifactContent, write_artifact, write_tokenizer_json
from training.checkpoint import (
    UnservableModel,
    check_architecture,
    check_classifier,
    check_tokenizer,
    serving_contract,
)
from training.data import sample_texts
from training.errors import TrainingError
from training.evaluate import predict_logits
from training.export import ExportOptions, export_variants

log = logging.getLogger(__name__)

LONG_TEXTS = 8
"""Check texts made longer than the model's maximum by joining headlines."""


@dataclass(frozen=True)
class ExportModelOptions:
    model: str
    """A local checkpoint directory (save_pretrained) or a hub name where the hub is reachable."""
    output: Path = Path("artifacts/exported")
    max_length: int | None = None
    """None: the model's own maximum."""
    texts: list[str] = field(default_factory=list)
    """Texts to check parity on and calibrate int8 with; empty: the bundled sample headlines."""
    model_name: str = ""
    export: ExportOptions = field(default_factory=ExportOptions)
    pairs: bool = False
    """The model reads sentence pairs: checked on pairs, recorded in the manifest."""


@dataclass
class ExportModelResult:
    manifest: Manifest
    output: Path
    notes: list[str]


def load_checkpoint(
    source: str, pairs: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Load and refuse, with one line, what the server cannot serve."""
    where = f"--model {source}"
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{where}: cannot load its config ({_first_line(exc)})") from exc
    check_architecture(config, where)
    check_classifier(config, where, pairs)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)  # type: ignore[no-untyped-call]
    except (OSError, ValueError, TypeError) as exc:
        raise UnservableModel(
            f"{where}: no usable tokenizer ({_first_line(exc)}); the server needs a fast one "
            "(tokenizer.json)"
        ) from exc
    check_tokenizer(tokenizer, where)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{where}: cannot load the model ({_first_line(exc)})") from exc
    model.eval()
    return model, tokenizer


def check_texts(texts: list[str], tokenizer: PreTrainedTokenizerFast, max_length: int) -> list[str]:
    """The given texts, or sample headlines plus a few longer than `max_length` tokens."""
    if texts:
        return texts
    headlines = list(sample_texts())
    sizes = [len(ids) for ids in tokenizer(headlines, add_special_tokens=False)["input_ids"]]
    long_texts = []
    for start in range(LONG_TEXTS):
        parts, tokens, index = [], 0, start * 7
        while tokens <= max_length + 8:  # cycles through the sample as often as it takes
            parts.append(headlines[index % len(headlines)] + ".")
            tokens += sizes[index % len(headlines)] + 1
            index += 1
        long_texts.append(" ".join(parts))
    return headlines[:120] + long_texts


def check_pairs(texts: list[str]) -> list[TextOrPair]:
    """Sentence pairs from the check texts: each with the next, and a few long texts paired
    with short ones either way round (both `longest_first` cuts are exercised)."""
    pairs: list[TextOrPair] = list(itertools.pairwise(texts))
    long_texts = texts[-LONG_TEXTS:]
    pairs += [(text, texts[i]) for i, text in enumerate(long_texts)]
    pairs += [(texts[i], text) for i, text in enumerate(long_texts)]
    return pairs


@torch.inference_mode()
def predict_pair_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    pairs: list[TextOrPair],
    *,
    max_length: int,
    batch_size: int = 64,
) -> np.ndarray:
    """PyTorch's logits for sentence pairs, tokenized as transformers does (`longest_first`)."""
    accepted = set(inspect.signature(model.forward).parameters)
    chunks = []
    for start in range(0, len(pairs), batch_size):
        chunk = [p for p in pairs[start : start + batch_size] if isinstance(p, tuple)]
        batch = tokenizer(
            [a for a, _ in chunk],
            [b for _, b in chunk],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        feeds = {k: v for k, v in batch.items() if k in accepted}
        chunks.append(model(**feeds).logits.float().cpu().numpy())
    return np.concatenate(chunks)


def export_model(options: ExportModelOptions) -> ExportModelResult:
    model, tokenizer = load_checkpoint(options.model, options.pairs)
    contract = serving_contract(model, tokenizer, f"--model {options.model}", options.max_length)
    headlines = check_texts(options.texts, tokenizer, contract.max_length)
    texts: list[TextOrPair]
    if options.pairs:
        texts = check_pairs(headlines)
        reference = predict_pair_logits(model, tokenizer, texts, max_length=contract.max_length)
    else:
        texts = list(headlines)
        reference = predict_logits(model, tokenizer, headlines, max_length=contract.max_length)
    log.info("export: %s (%s), %d check texts", options.model, contract.architecture, len(texts))
    with tempfile.TemporaryDirectory(prefix="training-export-") as work:
        work_dir = Path(work)
        tokenizer_json = work_dir / "tokenizer.json"
        write_tokenizer_json(tokenizer, contract.max_length, tokenizer_json)
        exported = export_variants(
            model, tokenizer_json, contract, texts, None, reference, work_dir, options.export
        )
        name = options.model_name or Path(options.model.rstrip("/")).name or "model"
        content = ArtifactContent(
            contract=contract,
            onnx_files=exported.files,
            parity=exported.parity,
            device_variant=exported.device_variant,
            input_names=exported.input_names,
            verified_on=exported.verified_on,
            base_model=options.model,
            dataset={},
            metrics={
                "export": {
                    "parity": exported.parity,
                    "notes": exported.notes,
                    "int8_settings": asdict(options.export.int8),
                }
            },
            quality_gate=QualityGate(),
            model_name=name,
            pairs=options.pairs,
            model_card_intro=(
                "Classify texts into: {labels}. Exported as it is; its intended use is that of "
                "the model it was exported from."
            ),
        )
        manifest = write_artifact(options.output, content, tokenizer)
    return ExportModelResult(manifest=manifest, output=Path(options.output), notes=exported.notes)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
