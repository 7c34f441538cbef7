"""The artifact's README.md: a short model card generated from the manifest and metrics."""

from __future__ import annotations

from service.backend.artifact import Manifest

HEADLINE_USE = (
    "Classify short English texts (headlines) into: {labels}. Not for other languages, long "
    "documents or decisions about people."
)


def render_model_card(manifest: Manifest, metrics: dict[str, object], intro: str = "") -> str:
    """`intro`: the intended-use paragraph; the default describes the headline classifier."""
    dataset = manifest.dataset
    gate = manifest.quality_gate
    kind = "multi-label (sigmoid)" if manifest.activation == "sigmoid" else "single-label (softmax)"
    lines = [
        f"# {manifest.model_name} {manifest.model_version}",
        "",
        f"A {manifest.architecture or 'transformer'} {kind} text classifier exported to ONNX, "
        "served by this project's SageMaker-compatible container.",
        "",
        "## Intended use",
        "",
        (intro or HEADLINE_USE).format(labels=", ".join(manifest.labels)),
        "",
        f"The model takes at most {manifest.max_length} tokens (truncation side: "
        f"{manifest.truncation_side}); graph inputs: {', '.join(manifest.input_names)}.",
        "",
    ]
    if not dataset:
        lines += [
            f"Exported as it is from `{manifest.base_model}`: no training run, no test split.",
            "",
        ]
        return "\n".join(lines + _variants(manifest))
    lines += [
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
    ]
    lines += _variants(manifest)
    lines += [
        "## Limitations",
        "",
        "Trained on a small headline set: expect errors on topics that straddle categories "
        "(health business, entertainment technology) and on wording unlike the training data.",
        "",
    ]
    return "\n".join(lines)


def _variants(manifest: Manifest) -> list[str]:
    lines = [
        "## Variants",
        "",
        "| precision | file | checked on | export check |",
        "| --- | --- | --- | --- |",
    ]
    for precision, variant in manifest.variants.items():
        figures = ", ".join(f"{k}={v:.4g}" for k, v in variant.parity.items()) or "-"
        checked = ", ".join(variant.verified_on) or "not yet (checked by the server at start)"
        lines.append(f"| {precision} | `{variant.file}` | {checked} | {figures} |")
    lines += [
        "",
        f"Served by default: cpu -> {manifest.device_variant.get('cpu')}, cuda -> {manifest.device_variant.get('cuda')}.",
        "",
    ]
    return lines
