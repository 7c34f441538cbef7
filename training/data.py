"""Labelled text in, clean stratified splits out.

Reads CSV, JSONL or Parquet (or a Hugging Face `datasets` name when the hub is reachable),
strips and de-duplicates texts, then splits train/validation/test stratified by label with a
fixed seed. Labels are encoded from the training split only.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from training.errors import DataError

SAMPLE_DATA = Path(__file__).parent / "sample_data" / "headlines.csv"
FILE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq"}
MIN_ROWS_PER_CLASS = 5
"""One row each for validation and test, and a few to learn from."""


@cache
def sample_texts() -> tuple[str, ...]:
    """The bundled sample's headlines, in file order."""
    with SAMPLE_DATA.open(encoding="utf-8") as handle:
        return tuple(row["text"] for row in csv.DictReader(handle))


def load_texts(source: str | Path, text_column: str = "text") -> list[str]:
    """Unlabelled texts from a CSV/TSV/JSONL/Parquet file (export check and calibration texts)."""
    path = Path(source)
    frame = _read_file(path)
    if text_column not in frame.columns:
        raise DataError(
            f"{path}: missing column {text_column!r} (columns are "
            f"{', '.join(map(str, frame.columns))}; use --text-column)"
        )
    texts = [str(t).strip() for t in frame[text_column].tolist()]
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"{path}: no non-empty texts in column {text_column!r}")
    return texts


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Splits:
    train: Split
    validation: Split
    test: Split
    label_names: list[str]
    summary: dict[str, object] = field(default_factory=dict)


def load_table(
    source: str | Path, text_column: str = "text", label_column: str = "label"
) -> pd.DataFrame:
    """Read `source` into a two-column frame (text, label), both strings."""
    source = str(source)
    path = Path(source)
    if path.suffix.lower() in FILE_SUFFIXES or path.exists():
        frame = _read_file(path)
        where = str(path)
    else:
        frame = _read_hub_dataset(source)
        where = f"dataset {source!r}"
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where}: missing column {missing[0]!r} (columns are {', '.join(map(str, frame.columns))}; "
            "use --text-column/--label-column)"
        )
    out = frame[[text_column, label_column]].copy()
    out.columns = pd.Index(["text", "label"])
    out.attrs["source"] = where
    return out


def _read_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a .csv, .jsonl or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        if suffix in {".jsonl", ".json"}:
            return _read_jsonl(path)
        sep = "\t" if suffix == ".tsv" else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed row ({_one_line(exc)})") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file is empty") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({_one_line(exc)})") from exc


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: malformed JSON line ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object per line")
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: file is empty")
    return pd.DataFrame(rows)


def _read_hub_dataset(name: str) -> pd.DataFrame:
    """`NAME` or `NAME:SPLIT` from the Hugging Face hub (needs network access)."""
    dataset_name, _, split = name.partition(":")
    try:
        import datasets

        loaded = datasets.load_dataset(dataset_name, split=split or "train")
    except Exception as exc:  # the hub raises many types; the user needs one line
        raise DataError(
            f"{name}: not a file here and not loadable as a Hugging Face dataset ({_one_line(exc)})"
        ) from exc
    frame = loaded.to_pandas()
    if "label" in frame.columns and hasattr(loaded.features.get("label"), "int2str"):
        frame["label"] = loaded.features["label"].int2str(frame["label"].tolist())
    return frame


def clean(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Strip texts and labels, drop empty and duplicate texts; return the counts dropped."""
    out = frame.copy()
    out["text"] = out["text"].map(lambda v: "" if pd.isna(v) else str(v).strip())
    out["label"] = out["label"].map(lambda v: "" if pd.isna(v) else str(v).strip())
    rows = len(out)
    empty = (out["text"] == "") | (out["label"] == "")
    out = out[~empty]
    duplicated = out["text"].duplicated(keep="first")
    out = out[~duplicated].reset_index(drop=True)
    counts = {
        "rows_read": rows,
        "dropped_empty": int(empty.sum()),
        "dropped_duplicates": int(duplicated.sum()),
        "rows_kept": len(out),
    }
    return out, counts


def split(
    frame: pd.DataFrame,
    *,
    seed: int = 42,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    where: str = "data",
) -> Splits:
    """Stratified train/validation/test split; label ids come from the training split."""
    per_class = frame["label"].value_counts()
    if len(per_class) < 2:
        found = ", ".join(map(str, per_class.index)) or "none"
        raise DataError(f"{where}: needs at least 2 classes, found {len(per_class)} ({found})")
    small = per_class[per_class < MIN_ROWS_PER_CLASS]
    if len(small):
        raise DataError(
            f"{where}: class {small.index[0]!r} has {int(small.iloc[0])} rows, "
            f"at least {MIN_ROWS_PER_CLASS} are needed for a stratified split"
        )
    classes = len(per_class)
    test_size = max(round(len(frame) * test_fraction), classes)
    rest, test = train_test_split(
        frame, test_size=test_size, stratify=frame["label"], random_state=seed
    )
    val_size = max(round(len(frame) * validation_fraction), classes)
    train, validation = train_test_split(
        rest, test_size=val_size, stratify=rest["label"], random_state=seed
    )

    label_names = sorted(train["label"].unique())
    index = {name: i for i, name in enumerate(label_names)}

    def encode(part: pd.DataFrame) -> Split:
        return Split(part["text"].tolist(), [index[label] for label in part["label"]])

    summary: dict[str, object] = {
        "train": len(train),
        "validation": len(validation),
        "test": len(test),
        "seed": seed,
        "class_counts": {str(k): int(v) for k, v in per_class.sort_index().items()},
    }
    return Splits(encode(train), encode(validation), encode(test), label_names, summary)


def load_splits(
    source: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 42,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Splits:
    """Read, clean and split in one call; the summary carries the clean-up counts."""
    frame = load_table(source, text_column, label_column)
    where = str(frame.attrs.get("source", source))
    cleaned, counts = clean(frame)
    if cleaned.empty:
        raise DataError(
            f"{where}: no usable rows (all {counts['rows_read']} were empty or duplicates)"
        )
    splits = split(
        cleaned,
        seed=seed,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        where=where,
    )
    splits.summary.update({"source": where, **counts})
    return splits


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
