"""Data checks and a stratified train/test split: the pipeline's first step.

The checks are the training CLI's own (`training.data`): the same file readers, the same
clean-up and the same stratified split, so bad data fails here with the same one-line reason
`python -m training train` gives, before a training instance is paid for. The test split is
held out: training sees only `train/`, and the evaluation step scores on `test/`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from training.data import FILE_SUFFIXES, Split, clean, load_table, split
from training.errors import DataError

TRAIN_FILE = "train.csv"
TEST_FILE = "test.csv"
REPORT_FILE = "data_report.json"


@dataclass(frozen=True)
class PrepareOptions:
    input_dir: Path
    train_dir: Path
    test_dir: Path
    text_column: str = "text"
    label_column: str = "label"
    test_fraction: float = 0.1
    seed: int = 42


def find_input(directory: Path) -> Path:
    """The one data file SageMaker downloaded into the input's local path."""
    files = sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES
    )
    if len(files) != 1:
        found = ", ".join(p.name for p in files) or "none"
        raise DataError(
            f"{directory}: expected one .csv/.jsonl/.parquet file in the input, found {found}"
        )
    return files[0]


def prepare(options: PrepareOptions) -> dict[str, object]:
    """Check, clean and split; write train.csv and test.csv (text,label); return the report."""
    source = find_input(options.input_dir)
    frame = load_table(source, options.text_column, options.label_column)
    where = str(frame.attrs.get("source", source))
    cleaned, counts = clean(frame)
    if cleaned.empty:
        raise DataError(
            f"{where}: no usable rows (all {counts['rows_read']} were empty or duplicates)"
        )
    # The training job splits its channel again into train/validation/test; here only the
    # held-out test split is cut (validation_fraction 0 still keeps one row per class aside).
    splits = split(
        cleaned,
        seed=options.seed,
        validation_fraction=0.0,
        test_fraction=options.test_fraction,
        where=where,
    )
    names = splits.label_names
    train_rows = _rows(splits.train, names) + _rows(splits.validation, names)
    test_rows = _rows(splits.test, names)
    _write(options.train_dir / TRAIN_FILE, train_rows)
    _write(options.test_dir / TEST_FILE, test_rows)
    report: dict[str, object] = {
        "source": source.name,
        **counts,
        "train": len(train_rows),
        "test": len(test_rows),
        "labels": names,
        "class_counts": splits.summary["class_counts"],
        "seed": options.seed,
    }
    (options.train_dir / REPORT_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def _rows(part: Split, names: list[str]) -> list[tuple[str, str]]:
    return [(text, names[label]) for text, label in zip(part.texts, part.labels, strict=True)]


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
