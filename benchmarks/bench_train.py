"""Train the default base on AG News headlines and print what the run cost and gave.

Uses ../shared/data/ag_news_titles.csv (relative to the repository root; 5,704 AG News
headlines, for measurement only: never copied into the project). Skips with a message when the
file is absent. Target: >= 85% test accuracy in under 5 minutes on 2 CPU cores.

    python benchmarks/bench_train.py [--data PATH] [--epochs N] [--output runs/bench-train/model]
    python benchmarks/bench_train.py --from-checkpoint runs/bench-train/model-pytorch [--int8-sweep]

--from-checkpoint skips fine-tuning: it re-exports a checkpoint an earlier run saved (same data,
same seed, so the same test split) with the current export code. --int8-sweep then measures
int8 settings on the validation split (to choose) and the test split (to report), at batch 1
and 32 (dynamic int8 scales activations per batch, so the batch's other texts matter).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from training.finetune import TrainConfig  # noqa: E402  (after the sys.path line)

TRAIN_DEFAULTS = TrainConfig()

DEFAULT_DATA = REPO.parent / "shared" / "data" / "ag_news_titles.csv"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("BENCH_TRAIN_DATA", DEFAULT_DATA))
    )
    parser.add_argument("--output", type=Path, default=REPO / "runs" / "bench-train" / "model")
    parser.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=TRAIN_DEFAULTS.batch_size)
    parser.add_argument("--max-length", type=int, default=TRAIN_DEFAULTS.max_length)
    parser.add_argument("--learning-rate", type=float, default=TRAIN_DEFAULTS.learning_rate)
    parser.add_argument("--progress", action="store_true", help="show the progress bar")
    parser.add_argument("--from-checkpoint", type=Path, help="re-export this fine-tuned model")
    parser.add_argument("--int8-sweep", action="store_true", help="with --from-checkpoint")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"bench-train: skipped, {args.data} not found (pass --data or set BENCH_TRAIN_DATA)")
        return 0

    from training.export import ExportOptions
    from training.logs import quiet_libraries
    from training.pipeline import RunOptions, run, run_from_checkpoint

    quiet_libraries()
    config = replace(
        TRAIN_DEFAULTS,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_length=args.max_length,
        learning_rate=args.learning_rate,
        progress=args.progress,
    )
    started = time.perf_counter()
    options = RunOptions(
        data=str(args.data), output=args.output, train=config, export=ExportOptions()
    )
    if args.from_checkpoint:
        options = replace(options, save_pytorch=False)
        result = run_from_checkpoint(options, args.from_checkpoint)
        if args.int8_sweep:
            int8_sweep(args.from_checkpoint, args.output, config.seed)
    else:
        result = run(options)
    wall = time.perf_counter() - started
    rows = report(result.output, wall, config, trained=not args.from_checkpoint)
    print_table(rows, f"bench-train: {args.data.name}, default base, {os.cpu_count()} CPUs")
    for note in result.notes:
        print(f"note: {note}")
    results = args.output.parent / "results.json"
    results.write_text(json.dumps(dict(rows), indent=2) + "\n")
    print(f"artifact: {result.output}  results: {results}")
    return 0


def report(
    artifact: Path, wall: float, config: TrainConfig, trained: bool = True
) -> list[tuple[str, str]]:
    """Figures per variant: accuracy and macro-F1 recomputed from the ONNX graphs on the test split."""
    from sklearn.metrics import f1_score

    from service.backend.artifact import load_manifest
    from service.backend.tokenizer import TextEncoder
    from training.data import load_splits
    from training.onnx_check import OnnxClassifier

    manifest = load_manifest(artifact)
    metrics = json.loads((artifact / "metrics.json").read_text())
    test = load_splits(str(manifest.dataset["source"]), seed=int(manifest.dataset["seed"])).test  # type: ignore[call-overload]
    rows = [
        (
            "wall time, train + evaluate + export (s)"
            if trained
            else "wall time, evaluate + export (s; training skipped)",
            f"{wall:.0f}",
        ),
        (
            "train / validation / test rows",
            f"{manifest.dataset['train']} / {manifest.dataset['validation']} / {len(test)}",
        ),
        ("epochs run (best)", f"{len(metrics['history'])} ({metrics['best_epoch']})"),
        (
            "PyTorch test accuracy / macro-F1",
            f"{metrics['accuracy']:.4f} / {metrics['macro_f1']:.4f}",
        ),
    ]
    encoder = TextEncoder.for_artifact(artifact, manifest)
    for precision, variant in manifest.variants.items():
        path = artifact / variant.file
        logits = OnnxClassifier(path, encoder).logits(test.texts)
        predicted = logits.argmax(1)
        acc = float((predicted == test.labels).mean())
        f1 = float(f1_score(test.labels, predicted, average="macro"))
        rows.append((f"ONNX {precision} test accuracy / macro-F1", f"{acc:.4f} / {f1:.4f}"))
        parity = variant.parity
        if "max_abs_logit_diff" in parity:
            rows.append(
                (
                    f"ONNX {precision} max |Δlogit| vs {'PyTorch' if precision == 'fp32' else 'fp32'}",
                    f"{parity['max_abs_logit_diff']:.2e}",
                )
            )
        if "argmax_agreement" in parity:
            rows.append((f"ONNX {precision} argmax agreement", f"{parity['argmax_agreement']:.4f}"))
        for batch in (1, 4, 8):
            if f"ms_per_batch_{batch}" in parity:
                rows.append(
                    (
                        f"ONNX {precision} ms per batch of {batch}",
                        f"{parity[f'ms_per_batch_{batch}']:.2f}",
                    )
                )
        rows.append((f"{variant.file} size (MB)", f"{path.stat().st_size / 1e6:.1f}"))
    rows.append(
        (
            "served on cpu / cuda",
            f"{manifest.device_variant['cpu']} / {manifest.device_variant.get('cuda')}",
        )
    )
    total = sum(p.stat().st_size for p in artifact.iterdir() if p.is_file())
    rows.append(("artifact directory size (MB)", f"{total / 1e6:.1f}"))
    fp32_accuracy = float(metrics["accuracy"])
    if trained:
        verdict = "met" if fp32_accuracy >= 0.85 and wall < 300 else "NOT met"
        rows.append(
            (
                "target: >= 0.85 accuracy in < 300 s",
                f"{verdict} ({fp32_accuracy:.4f}, {wall:.0f} s)",
            )
        )
    rows.append(
        ("config", json.dumps({k: v for k, v in asdict(config).items() if k != "progress"}))
    )
    rows.append(("int8 settings", json.dumps(metrics["export"].get("int8_settings"))))
    return rows


def int8_sweep(checkpoint: Path, artifact: Path, seed: int) -> None:
    """int8 settings against the exported fp32 graph: accuracy and agreement per split and
    batch size. Prints a markdown table (the int8 table in docs/training.md)."""
    from service.backend.artifact import load_manifest
    from service.backend.tokenizer import TextEncoder
    from training.data import load_splits
    from training.onnx_build import Int8Settings, export_raw, quantize_int8
    from training.onnx_check import OnnxClassifier

    manifest = load_manifest(artifact)
    splits = load_splits(str(manifest.dataset["source"]), seed=seed)
    encoder = TextEncoder.for_artifact(artifact, manifest)
    work = artifact.parent / "int8-sweep"
    work.mkdir(parents=True, exist_ok=True)
    fused = artifact / manifest.variants["fp32"].file
    raw = work / "raw" / "model.onnx"
    if not raw.exists():
        from transformers import AutoModelForSequenceClassification

        export_raw(AutoModelForSequenceClassification.from_pretrained(checkpoint), raw.parent, 1e-4)
    calibration = splits.train.texts[:256]
    candidates = {
        "dynamic, per-tensor, ORT default ops (before)": Int8Settings(
            per_channel=False, op_types=()
        ),
        "dynamic, per-channel, ORT default ops": Int8Settings(op_types=()),
        "dynamic, per-channel, MatMul + Attention, embeddings fp32 (chosen)": Int8Settings(),
        "dynamic, unfused graph, per-channel, MatMul": Int8Settings(
            source="raw", op_types=("MatMul",)
        ),
        "static QDQ, unfused, per-channel, MatMul, min-max calibration": Int8Settings(
            method="static", source="raw", op_types=("MatMul",)
        ),
        "static QDQ, unfused, per-channel, MatMul, percentile calibration": Int8Settings(
            method="static", source="raw", op_types=("MatMul",), calibration="percentile"
        ),
    }
    splits_used = {"validation": splits.validation, "test": splits.test}
    reference = {
        (name, batch): OnnxClassifier(fused, encoder).logits(split.texts, batch)
        for name, split in splits_used.items()
        for batch in (1, 32)
    }
    print(
        "\n| int8 settings | val acc b1 / b32 | test acc b1 / b32 | test agreement b1 / b32 | MB |"
    )
    print("| --- | --- | --- | --- | --- |")
    fp32_row = [
        f"{(reference[(n, b)].argmax(1) == s.labels).mean():.4f}"
        for n, s in splits_used.items()
        for b in (1, 32)
    ]
    print(
        f"| fp32 | {fp32_row[0]} / {fp32_row[1]} | {fp32_row[2]} / {fp32_row[3]} | 1 / 1 | "
        f"{fused.stat().st_size / 1e6:.1f} |"
    )
    for index, (label, settings) in enumerate(candidates.items()):
        out = work / f"int8-{index}.onnx"
        quantize_int8(fused, raw, out, settings, encoder, calibration)
        classifier = OnnxClassifier(out, encoder)
        cells: dict[tuple[str, int], tuple[float, float]] = {}
        for name, split in splits_used.items():
            for batch in (1, 32):
                logits = classifier.logits(split.texts, batch)
                accuracy = float((logits.argmax(1) == split.labels).mean())
                agreement = float((logits.argmax(1) == reference[(name, batch)].argmax(1)).mean())
                cells[(name, batch)] = (accuracy, agreement)
        print(
            f"| {label} | {cells[('validation', 1)][0]:.4f} / {cells[('validation', 32)][0]:.4f} "
            f"| {cells[('test', 1)][0]:.4f} / {cells[('test', 32)][0]:.4f} "
            f"| {cells[('test', 1)][1]:.4f} / {cells[('test', 32)][1]:.4f} "
            f"| {out.stat().st_size / 1e6:.1f} |",
            flush=True,
        )


def print_table(rows: list[tuple[str, str]], title: str) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}\n")
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"| {'-' * width} | --- |")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    print()


if __name__ == "__main__":
    sys.exit(main())
