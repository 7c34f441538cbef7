"""`python -m training.pipeline_steps prepare|evaluate ...`: the processing steps' commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from training.errors import TrainingError
from training.logs import quiet_libraries

# SageMaker Processing: the first KB of this file is the job's ExitMessage. SM_ROOT moves
# /opt/ml elsewhere (local runs, tests), as for the training job (training/sagemaker.py).
MESSAGE_FILE = Path(os.environ.get("SM_ROOT", "/opt/ml")) / "output" / "message"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.pipeline_steps")
    parser.add_argument("--message-file", type=Path, default=MESSAGE_FILE)
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="data checks and a stratified split")
    prepare.add_argument("--input", type=Path, required=True)
    prepare.add_argument("--train", type=Path, required=True)
    prepare.add_argument("--test", type=Path, required=True)
    prepare.add_argument("--text-column", default="text")
    prepare.add_argument("--label-column", default="label")
    prepare.add_argument("--test-fraction", type=float, default=0.1)
    prepare.add_argument("--seed", type=int, default=42)
    evaluate = commands.add_parser("evaluate", help="score the served variant on the test split")
    evaluate.add_argument("--model", type=Path, required=True)
    evaluate.add_argument("--test", type=Path, required=True)
    evaluate.add_argument("--output", type=Path, required=True)
    evaluate.add_argument("--min-accuracy", type=float, required=True)
    evaluate.add_argument("--min-macro-f1", type=float, required=True)
    evaluate.add_argument("--int8-tolerance", type=float, required=True)
    return parser


def _run(args: argparse.Namespace) -> str:
    if args.command == "prepare":
        from training.pipeline_steps.prepare import PrepareOptions, prepare

        report = prepare(
            PrepareOptions(
                input_dir=args.input,
                train_dir=args.train,
                test_dir=args.test,
                text_column=args.text_column,
                label_column=args.label_column,
                test_fraction=args.test_fraction,
                seed=args.seed,
            )
        )
        return f"data: {json.dumps(report)}"
    from training.pipeline_steps.evaluate_model import EvaluateOptions, Thresholds, evaluate

    result = evaluate(
        EvaluateOptions(
            model_dir=args.model,
            test_dir=args.test,
            output_dir=args.output,
            thresholds=Thresholds(args.min_accuracy, args.min_macro_f1, args.int8_tolerance),
        )
    )
    quality = result["multiclass_classification_metrics"]
    return (
        f"evaluation: accuracy {quality['accuracy']['value']:.4f}  macro-F1 "
        f"{quality['macro_f1']['value']:.4f}  int8 drop {result['int8']['accuracy_drop']:.4f}  "
        f"({result['test_texts']} test texts, {result['served_variant']} served)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    quiet_libraries()
    try:
        print(_run(args), flush=True)
    except TrainingError as exc:
        return _fail(args.message_file, str(exc), exc.exit_code)
    except Exception as exc:  # the job's ExitMessage says why, in one line
        return _fail(args.message_file, f"{type(exc).__name__}: {exc}", 1)
    return 0


def _fail(path: Path, message: str, code: int) -> int:
    line = " ".join(message.split())
    print(f"error: {line}", file=sys.stderr, flush=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line + "\n", encoding="utf-8")
    except OSError:
        pass  # outside a processing job (no /opt/ml): stderr has it
    return code


if __name__ == "__main__":
    sys.exit(main())
