"""Texts to send: drawn from any CSV file with a text column (default: the bundled sample)."""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

DEFAULT_TEXT_COLUMN = "text"
SAMPLE_DATA_DIR = Path(__file__).resolve().parent.parent / "training" / "sample_data"

_WHITESPACE = re.compile(r"\s+")


class DatasetError(Exception):
    """The dataset cannot be used; the message names the file and the problem."""


def default_dataset() -> Path:
    """The first CSV file of the sample data bundled with training."""
    candidates = sorted(SAMPLE_DATA_DIR.glob("*.csv"))
    if not candidates:
        raise DatasetError(f"{SAMPLE_DATA_DIR}: no bundled sample CSV; pass --dataset PATH")
    return candidates[0]


@functools.lru_cache(maxsize=8)
def load_texts(path: Path | None = None, column: str = DEFAULT_TEXT_COLUMN) -> tuple[str, ...]:
    """Every non-empty text of `column`, whitespace collapsed (a CSV body is one text per line)."""
    path = Path(path) if path is not None else default_dataset()
    if not path.is_file():
        raise DatasetError(f"{path}: dataset file does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or column not in reader.fieldnames:
            found = ", ".join(reader.fieldnames or []) or "none"
            raise DatasetError(f"{path}: no column {column!r} (columns: {found})")
        texts = tuple(
            cleaned
            for row in reader
            if (cleaned := _WHITESPACE.sub(" ", row[column] or "").strip())
        )
    if not texts:
        raise DatasetError(f"{path}: column {column!r} has no non-empty text")
    return texts
