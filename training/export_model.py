"""`export --model`: a sequence-classification checkpoint you already have -> a served artifact.

The same exporter as training (`training.export.export_variants`, `write_artifact`); only the
check texts differ: no test split here, so the fp32 graph must match PyTorch on sample texts
(short headlines, plus texts longer than the model's maximum, so truncation is exercised too),
and int8/fp16 must agree with fp32's decisions.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from service.backend.artifact import Manifest, QualityGate
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


@dataclass
class ExportModelResult:
    manifest: Manifest
    output: Path
    notes: list[str]


def load_checkpoint(source: str) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Load and refuse, with one line, what the server cannot serve."""
    where = f"--model {source}"
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{where}: cannot load its config ({_first_line(exc)})") from exc
    check_architecture(config, where)
    check_classifier(config, where)
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


def export_model(options: ExportModelOptions) -> ExportModelResult:
    model, tokenizer = load_checkpoint(options.model)
    contract = serving_contract(model, tokenizer, f"--model {options.model}", options.max_length)
    texts = check_texts(options.texts, tokenizer, contract.max_length)
    reference = predict_logits(model, tokenizer, texts, max_length=contract.max_length)
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
            model_card_intro=(
                "Classify texts into: {labels}. Exported as it is; its intended use is that of "
                "the model it was exported from."
            ),
        )
        manifest = write_artifact(options.output, content, tokenizer)
    return ExportModelResult(manifest=manifest, output=Path(options.output), notes=exported.notes)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
