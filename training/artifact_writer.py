"""Assemble the artifact directory (the seam in service/backend/artifact.py) and swap it in whole."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from service.backend.artifact import (
    TOKENIZER_NAME,
    Device,
    Manifest,
    QualityGate,
    VariantInfo,
    sha256_file,
    write_manifest,
)
from training.checkpoint import ServingContract
from training.model_card import render_model_card

VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}


@dataclass
class ArtifactContent:
    """Everything that goes into the artifact, gathered by the pipeline."""

    contract: ServingContract
    onnx_files: dict[str, Path]
    parity: dict[str, dict[str, float]]
    device_variant: dict[str, str]
    input_names: list[str]
    verified_on: dict[str, list[Device]]
    base_model: str
    dataset: dict[str, object]
    metrics: dict[str, object]
    """metrics.json: test-split evaluation, training history, export notes."""
    quality_gate: QualityGate
    figures: list[Path] = field(default_factory=list)
    model_name: str = "headline-topics"
    model_card_intro: str = ""
    pairs: bool = False
    """The model reads sentence pairs (export --pairs)."""


def write_tokenizer_json(tokenizer: PreTrainedTokenizerFast, max_length: int, out: Path) -> None:
    """tokenizer.json giving the model's ids: it truncates to `max_length` (special tokens
    included) on the tokenizer's side and pads each batch on the right with the pad id. The
    server sets both itself from the manifest; tools reading only this file get the same."""
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    side = "left" if tokenizer.truncation_side == "left" else "right"
    backend.enable_truncation(max_length=max_length, direction=side)
    pad_token = str(tokenizer.pad_token or "[PAD]")
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = backend.token_to_id(pad_token) or 0
    backend.enable_padding(pad_id=int(pad_id), pad_token=pad_token)
    backend.save(str(out))


def summary_metrics(
    metrics: dict[str, object], parity: dict[str, dict[str, float]]
) -> dict[str, float]:
    """The flat test-split summary the manifest carries."""
    summary = {
        k: float(v)
        for k, v in metrics.items()
        if k in ("accuracy", "macro_f1") and isinstance(v, float)
    }
    for precision, figures in parity.items():
        if "accuracy" in figures:
            summary[f"onnx_{precision}_accuracy"] = figures["accuracy"]
    return summary


def write_artifact(
    output: Path,
    content: ArtifactContent,
    tokenizer: PreTrainedTokenizerFast,
    *,
    replace_dir: bool = True,
) -> Manifest:
    """Write into a sibling temp dir, then replace `output`: readers never see half an artifact.

    `replace_dir=False` empties `output` and moves the files in instead, for directories that
    must stay put (SageMaker's /opt/ml/model may be a mount point)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        for precision, source in content.onnx_files.items():
            shutil.copyfile(source, staging / VARIANT_FILES[precision])
        contract = content.contract
        write_tokenizer_json(tokenizer, contract.max_length, staging / TOKENIZER_NAME)
        for figure in content.figures:
            shutil.copyfile(figure, staging / figure.name)
        (staging / "metrics.json").write_text(
            json.dumps(content.metrics, indent=2) + "\n", encoding="utf-8"
        )

        created = datetime.now(UTC)
        fingerprint = sha256_file(staging / VARIANT_FILES["fp32"])[:8]
        manifest = Manifest(
            model_version=f"{created:%Y%m%d-%H%M%S}-{fingerprint}",
            created_at=created.isoformat(timespec="seconds"),
            model_name=content.model_name,
            labels=contract.labels,
            pairs=content.pairs,
            activation=contract.activation,
            max_length=contract.max_length,
            truncation_side=contract.truncation_side,
            pad_token_id=contract.pad_token_id,
            input_names=content.input_names,
            do_lower_case=contract.do_lower_case,
            architecture=contract.architecture,
            variants={
                p: VariantInfo(  # type: ignore[misc]
                    file=VARIANT_FILES[p],
                    precision=p,  # type: ignore[arg-type]
                    parity=content.parity.get(p, {}),
                    verified_on=content.verified_on.get(p, []),
                )
                for p in content.onnx_files
            },
            device_variant=content.device_variant,  # type: ignore[arg-type]
            base_model=content.base_model,
            dataset=content.dataset,
            metrics=summary_metrics(content.metrics, content.parity),
            quality_gate=content.quality_gate,
        )
        (staging / "README.md").write_text(
            render_model_card(manifest, content.metrics, content.model_card_intro),
            encoding="utf-8",
        )
        write_manifest(staging, manifest)
        if replace_dir:
            _swap_in(staging, output)
        else:
            _move_into(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _move_into(staging: Path, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    for old in output.iterdir():
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    for new in sorted(staging.iterdir()):
        shutil.move(str(new), output / new.name)
    staging.rmdir()


def _swap_in(staging: Path, output: Path) -> None:
    if output.exists():
        retired = output.with_name(
            f".{output.name}-old-{hashlib.sha1(str(staging).encode()).hexdigest()[:6]}"
        )
        output.rename(retired)
        staging.rename(output)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(output)
    output.chmod(0o755)
