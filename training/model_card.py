"""The artifact's README.md: a short model card generated from the manifest and metrics."""

from __future__ import annotations

from service.backend.artifact import Manifest


def render_model_card(manifest: Manifest, metrics: dict[str, object]) -> str:
    dataset = manifest.dataset
    gate = manifest.quality_gate
    lines = [
        f"# {manifest.model_name} {manifest.model_version}",
        "",
        "A DistilBERT-architecture text classifier exported to ONNX, served by this project's "
        "SageMaker-compatible container.",
        "",
        "## Intended use",
        "",
        f"Classify short English texts (headlines) into: {', '.join(manifest.labels)}. "
        f"Inputs longer than {manifest.max_length} tokens are truncated. Not for other languages, "
        "long documents or decisions about people.",
        "",
        "## Training",
        "",
        f"- base model: `{manifest.base_model}`",
        f"- data: `{dataset.get('source', '?')}` ({dataset.get('rows_kept', '?')} rows kept; "
        f"{dataset.get('dropped_empty', 0)} empty and {dataset.get('dropped_duplicates', 0)} duplicate rows dropped)",
        f"- split (stratified, seed {dataset.get('seed', '?')}): train {dataset.get('train', '?')}, "
        f"validation {dataset.get('validation', '?')}, test {dataset.get('test', '?')}",
        f"- hyperparameters: `{metrics.get('config', {})}`",
        "",
        "## Evaluation (test split)",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {value:.4f} |" for name, value in manifest.metrics.items()]
    threshold = "none" if gate.threshold is None else f"{gate.threshold:.4f}"
    lines += [
        "",
        f"Quality gate ({gate.metric} >= {threshold}): {'passed' if gate.passed else 'FAILED, not deployable'}.",
        "",
        "## Variants",
        "",
        "| precision | file | export check |",
        "| --- | --- | --- |",
    ]
    for precision, variant in manifest.variants.items():
        figures = ", ".join(f"{k}={v:.4g}" for k, v in variant.parity.items()) or "-"
        lines.append(f"| {precision} | `{variant.file}` | {figures} |")
    lines += [
        "",
        f"Served by default: cpu -> {manifest.device_variant.get('cpu')}, cuda -> {manifest.device_variant.get('cuda')}.",
        "",
        "## Limitations",
        "",
        "Trained on a small headline set: expect errors on topics that straddle categories "
        "(health business, entertainment technology) and on wording unlike the training data.",
        "",
    ]
    return "\n".join(lines)
