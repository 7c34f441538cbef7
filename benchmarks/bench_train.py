"""Train the default base on AG News headlines and print what the run cost and gave.

Uses ../shared/data/ag_news_titles.csv (relative to the repository root; 5,704 AG News
headlines, for measurement only: never copied into the project). Skips with a message when the
file is absent. Target: >= 85% test accuracy in under 5 minutes on 2 CPU cores.

    python benchmarks/bench_train.py [--data PATH] [--epochs N] [--output runs/bench-train/model]
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
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"bench-train: skipped, {args.data} not found (pass --data or set BENCH_TRAIN_DATA)")
        return 0

    from training.export import ExportOptions
    from training.logs import quiet_libraries
    from training.pipeline import RunOptions, run

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
    result = run(
        RunOptions(data=str(args.data), output=args.output, train=config, export=ExportOptions())
    )
    wall = time.perf_counter() - started
    rows = report(result.output, wall, config)
    print_table(rows, f"bench-train: {args.data.name}, default base, {os.cpu_count()} CPUs")
    for note in result.notes:
        print(f"note: {note}")
    results = args.output.parent / "results.json"
    results.write_text(json.dumps(dict(rows), indent=2) + "\n")
    print(f"artifact: {result.output}  results: {results}")
    return 0


def report(artifact: Path, wall: float, config: TrainConfig) -> list[tuple[str, str]]:
    """Figures per variant: accuracy and macro-F1 recomputed from the ONNX graphs on the test split."""
    from sklearn.metrics import f1_score

    from service.backend.artifact import load_manifest
    from training.data import load_splits
    from training.onnx_check import OnnxClassifier

    manifest = load_manifest(artifact)
    metrics = json.loads((artifact / "metrics.json").read_text())
    test = load_splits(str(manifest.dataset["source"]), seed=int(manifest.dataset["seed"])).test  # type: ignore[call-overload]
    rows = [
        ("wall time, train + evaluate + export (s)", f"{wall:.0f}"),
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
    for precision, variant in manifest.variants.items():
        path = artifact / variant.file
        logits = OnnxClassifier(path, artifact / "tokenizer.json").logits(test.texts)
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
    verdict = "met" if fp32_accuracy >= 0.85 and wall < 300 else "NOT met"
    rows.append(
        ("target: >= 0.85 accuracy in < 300 s", f"{verdict} ({fp32_accuracy:.4f}, {wall:.0f} s)")
    )
    rows.append(
        ("config", json.dumps({k: v for k, v in asdict(config).items() if k != "progress"}))
    )
    return rows


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
