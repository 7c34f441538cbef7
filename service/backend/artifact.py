"""The model artifact: the one seam between training and serving.

Training writes a directory; the service (and `deploy`) read only that directory. It is
`/opt/ml/model` inside the container and the contents of `model.tar.gz` on S3.

    manifest.json      this file's `Manifest`, with a sha256 of every other file
    model.onnx         fp32 graph: `input_names` (int64 [batch, seq]) -> logits [batch, labels]
    model.int8.onnx    optional int8 variant (CPU)
    model.fp16.onnx    optional fp16 variant (CUDA), float32 inputs and outputs kept
    tokenizer.json     fast tokenizer for the `tokenizers` library (gives the model's ids)
    metrics.json       evaluation results
    README.md          model card

This module needs nothing but pydantic and the standard library, so the serving image, the
training code and the deploy CLI all validate an artifact the same way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
"""Every graph input the server knows how to fill."""

Device = Literal["cpu", "cuda"]
Precision = Literal["fp32", "int8", "fp16"]
Activation = Literal["softmax", "sigmoid"]
Side = Literal["right", "left"]


class ArtifactError(Exception):
    """The artifact cannot be served; the message says which file and what is wrong."""


class VariantInfo(BaseModel):
    """One ONNX graph of the model."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="ONNX file name inside the artifact directory.")
    precision: Precision
    parity: dict[str, float] = Field(
        default_factory=dict,
        description="Figures from the export-time check against fp32/PyTorch, e.g. max_abs_logit_diff, accuracy.",
    )
    verified_on: list[Device] = Field(
        default_factory=list,
        description="Devices on which this graph passed its parity check at export. Empty: not "
        "yet checked on a device (fp16 built without a GPU); the server checks it at start.",
    )


class QualityGate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = "accuracy"
    threshold: float | None = None
    value: float | None = None
    passed: bool = True


class Manifest(BaseModel):
    """What the service needs to know to serve the artifact, and what `deploy` checks."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    format_version: int = FORMAT_VERSION
    task: Literal["text-classification"] = "text-classification"
    model_name: str = "headline-topics"
    model_version: str = Field(description="Unique per training run, e.g. a timestamp plus a hash.")
    created_at: str = ""
    labels: list[str] = Field(
        min_length=1,
        description="Ordered (config.id2label): logits[:, i] is labels[i]. One label: a "
        "one-logit model (a cross-encoder's relevance), scored with a sigmoid.",
    )
    pairs: bool = Field(
        default=False,
        description="The model reads sentence pairs (NLI, paraphrase, a cross-encoder's "
        "query and document); its export parity was checked on pairs.",
    )
    activation: Activation = Field(
        default="softmax",
        description="softmax: single-label; sigmoid: multi-label (an independent score per label).",
    )
    max_length: int = Field(
        gt=0,
        le=8192,
        description="The most tokens per text the model takes, special tokens included.",
    )
    truncation_side: Side = Field(
        default="right", description="The tokenizer's: right keeps the start, left the end."
    )
    pad_token_id: int = Field(default=0, ge=0, description="The id to pad input_ids with.")
    input_names: list[str] = Field(
        default_factory=lambda: ["input_ids", "attention_mask"],
        description="The graph's inputs, in order; token_type_ids (all 0) when the model takes it.",
    )
    output_name: str = "logits"
    tokenizer: str = TOKENIZER_NAME
    do_lower_case: bool = True
    architecture: str = Field(default="", description="config.model_type, for people.")
    variants: dict[Precision, VariantInfo] = Field(
        description="Every ONNX graph in the artifact, keyed by precision; fp32 is required."
    )
    device_variant: dict[Device, Precision] = Field(
        default_factory=lambda: {"cpu": "fp32", "cuda": "fp32"},  # type: ignore[arg-type]
        description="Which variant to serve on each device.",
    )
    base_model: str = ""
    dataset: dict[str, object] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict, description="Test-split summary.")
    quality_gate: QualityGate = Field(default_factory=QualityGate)
    files: dict[str, str] = Field(
        default_factory=dict, description="sha256 of every file in the artifact but the manifest."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(
                f"format_version {self.format_version} is not supported (expected {FORMAT_VERSION})"
            )
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if len(self.labels) == 1 and self.activation != "sigmoid":
            raise ValueError("a one-label (one-logit) model must have activation sigmoid")
        if "fp32" not in self.variants:
            raise ValueError("variants must include fp32")
        unknown = set(self.input_names) - set(INPUT_NAMES)
        if "input_ids" not in self.input_names or unknown:
            raise ValueError(
                f"input_names must include input_ids and only {list(INPUT_NAMES)}, "
                f"got {self.input_names}"
            )
        for device, precision in self.device_variant.items():
            if precision not in self.variants:
                raise ValueError(
                    f"device_variant[{device}] names {precision}, which is not in variants"
                )
        return self

    @property
    def deployable(self) -> bool:
        """False when training's quality gate failed: `deploy` refuses such an artifact."""
        return self.quality_gate.passed

    def variant_for(self, device: Device, override: Precision | None = None) -> VariantInfo:
        precision = override or self.device_variant.get(device, "fp32")
        if precision not in self.variants:
            raise ArtifactError(
                f"{MANIFEST_NAME}: variant {precision!r} requested but the artifact has only "
                f"{sorted(self.variants)}"
            )
        return self.variants[precision]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(model_dir: Path, manifest: Manifest) -> Path:
    """Fill in the checksum of every file beside the manifest, then write it."""
    model_dir = Path(model_dir)
    manifest.files = {
        str(p.relative_to(model_dir)): sha256_file(p)
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }
    path = model_dir / MANIFEST_NAME
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def load_manifest(model_dir: Path, verify_checksums: bool = True) -> Manifest:
    """Read and check an artifact directory; raise ArtifactError naming the problem."""
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST_NAME
    if not model_dir.is_dir():
        raise ArtifactError(f"{model_dir}: model directory does not exist")
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (is {model_dir} a model artifact?)")
    try:
        manifest = Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise ArtifactError(f"{path}: {where}: {first['msg']}") from exc

    required = {manifest.tokenizer} | {v.file for v in manifest.variants.values()}
    for name in sorted(required):
        if not (model_dir / name).is_file():
            raise ArtifactError(f"{model_dir / name}: named in {MANIFEST_NAME} but missing")
    if verify_checksums:
        for name, expected in sorted(manifest.files.items()):
            file = model_dir / name
            if not file.is_file():
                raise ArtifactError(f"{file}: listed in {MANIFEST_NAME} but missing")
            if sha256_file(file) != expected:
                raise ArtifactError(
                    f"{file}: sha256 does not match {MANIFEST_NAME} (corrupt or edited)"
                )
    return manifest
