"""`train` (what `docker run IMAGE train` runs): SageMaker's training-job contract.

    <root>/input/config/hyperparameters.json   {"epochs": "3", ...}: SageMaker writes strings
    <root>/input/data/<channel>/               the data; channel `training` or `train`, or the only one
    <root>/model/                              the artifact (SageMaker uploads it as model.tar.gz)
    <root>/output/data/model-pytorch/          the fine-tuned PyTorch checkpoint (output.tar.gz)
    <root>/output/failure                      why the job failed, one line

<root> is /opt/ml; tests and local runs override it with `--root DIR` or SM_ROOT=DIR.
With no data channel the job trains on the bundled sample.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from training.data import FILE_SUFFIXES, SAMPLE_DATA
from training.errors import GATE_EXIT_CODE, TrainingError
from training.export import INT8_TOLERANCE, ExportOptions
from training.finetune import TrainConfig
from training.logs import quiet_libraries

DEFAULT_ROOT = Path("/opt/ml")
PREFERRED_CHANNELS = ("training", "train")


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError(f"expected true or false, got {value!r}")
    return lowered in {"true", "1", "yes"}


def _optional(kind: Callable[[str], object]) -> Callable[[str], object]:
    return lambda value: None if value.strip().lower() in {"", "none", "null"} else kind(value)


TRAIN_HYPERPARAMETERS: dict[str, Callable[[str], object]] = {
    "epochs": int,
    "batch_size": int,
    "learning_rate": float,
    "warmup_ratio": float,
    "weight_decay": float,
    "max_length": int,
    "seed": int,
    "gradient_accumulation": int,
    "patience": int,
    "max_steps": _optional(int),
    "freeze_embeddings": _bool,
}
RUN_HYPERPARAMETERS: dict[str, Callable[[str], object]] = {
    "base_model": str,
    "text_column": str,
    "label_column": str,
    "data_file": str,
    "min_accuracy": _optional(float),
    "cpu_variant": str,
    "fp16": str,
    "int8_tolerance": float,
}


class JobError(TrainingError):
    """The job's inputs are wrong; the message goes to <root>/output/failure."""


def read_hyperparameters(path: Path) -> dict[str, object]:
    """Typed hyperparameters; names accept - or _; unknown names and bad values are errors."""
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JobError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise JobError(f"{path}: expected a JSON object")
    known = TRAIN_HYPERPARAMETERS | RUN_HYPERPARAMETERS
    typed: dict[str, object] = {}
    for name, value in raw.items():
        key = name.replace("-", "_")
        if key not in known:
            raise JobError(
                f"{path}: unknown hyperparameter {name!r} (known: {', '.join(sorted(known))})"
            )
        try:
            typed[key] = known[key](str(value))
        except ValueError as exc:
            raise JobError(f"{path}: hyperparameter {name}={value!r}: {exc}") from exc
    return typed


def find_data(data_root: Path, data_file: str | None) -> Path:
    """The training file from the channel SageMaker mounted; the bundled sample if none."""
    channels = sorted(p for p in data_root.iterdir() if p.is_dir()) if data_root.is_dir() else []
    if not channels:
        return SAMPLE_DATA
    preferred = [c for c in channels if c.name in PREFERRED_CHANNELS]
    if not preferred and len(channels) > 1:
        names = ", ".join(c.name for c in channels)
        raise JobError(f"{data_root}: several channels ({names}); name one 'training'")
    channel = (preferred or channels)[0]
    if data_file:
        chosen = channel / data_file
        if not chosen.is_file():
            raise JobError(f"{chosen}: data_file not found in channel {channel.name}")
        return chosen
    files = sorted(
        p for p in channel.rglob("*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES
    )
    if len(files) != 1:
        found = ", ".join(p.name for p in files) or "none"
        raise JobError(
            f"{channel}: expected one .csv/.jsonl/.parquet file, found {found}; set data_file"
        )
    return files[0]


def run_job(root: Path) -> int:
    from training.pipeline import RunOptions, run

    hyper = read_hyperparameters(root / "input" / "config" / "hyperparameters.json")
    data = find_data(root / "input" / "data", hyper.pop("data_file", None))  # type: ignore[arg-type]
    train_kwargs = {k: hyper.pop(k) for k in list(hyper) if k in TRAIN_HYPERPARAMETERS}
    cpu_variant = hyper.pop("cpu_variant", "auto")
    fp16 = hyper.pop("fp16", "auto")
    int8_tolerance = float(hyper.pop("int8_tolerance", INT8_TOLERANCE))  # type: ignore[arg-type]
    if cpu_variant not in ("auto", "fp32", "int8") or fp16 not in ("auto", "on", "off"):
        raise JobError(
            f"cpu_variant={cpu_variant!r} / fp16={fp16!r}: expected auto|fp32|int8 / auto|on|off"
        )
    options = RunOptions(
        data=str(data),
        output=root / "model",
        pytorch_dir=root / "output" / "data" / "model-pytorch",
        replace_output=False,
        # CloudWatch gets a plain progress line every 30 s (no terminal there, so no bar).
        train=TrainConfig(progress=True, **train_kwargs),  # type: ignore[arg-type]
        export=ExportOptions(
            cpu_variant=cpu_variant, fp16=fp16, int8_max_accuracy_drop=int8_tolerance
        ),
        **hyper,  # type: ignore[arg-type]
    )
    result = run(options)
    manifest = result.manifest
    print(
        f"artifact: {result.output}  test accuracy: {manifest.metrics['accuracy']:.4f}", flush=True
    )
    if not manifest.deployable:
        gate = manifest.quality_gate
        raise _GateFailed(
            f"quality gate failed: test accuracy {gate.value:.4f} < min_accuracy {gate.threshold}"
        )
    return 0


class _GateFailed(TrainingError):
    exit_code = GATE_EXIT_CODE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("SM_ROOT", DEFAULT_ROOT)))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    quiet_libraries()
    failure = args.root / "output" / "failure"
    try:
        return run_job(args.root)
    except TrainingError as exc:
        return _record_failure(failure, str(exc), exc.exit_code)
    except Exception as exc:  # SageMaker shows this file as the job's FailureReason
        return _record_failure(failure, f"{type(exc).__name__}: {exc}", 1)


def _record_failure(path: Path, message: str, code: int) -> int:
    line = " ".join(message.split())
    print(f"error: {line}", file=sys.stderr, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(line + "\n", encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
