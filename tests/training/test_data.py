"""Reading, cleaning and splitting labelled text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from training.data import SAMPLE_DATA, clean, load_splits, load_table, split
from training.errors import DataError


def test_bundled_sample_is_balanced_and_clean() -> None:
    frame = load_table(SAMPLE_DATA)
    cleaned, counts = clean(frame)
    assert counts["rows_read"] >= 400
    assert counts["dropped_empty"] == counts["dropped_duplicates"] == 0
    per_class = cleaned["label"].value_counts()
    assert sorted(per_class.index) == ["business", "entertainment", "health", "scitech"]
    assert per_class.max() - per_class.min() <= 2


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_reads_each_format_with_custom_columns(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"headline": ["a b", "c d"], "topic": ["x", "y"]})
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")) + "\n")
    else:
        frame.to_parquet(path)
    loaded = load_table(path, text_column="headline", label_column="topic")
    assert loaded.to_dict("list") == {"text": ["a b", "c d"], "label": ["x", "y"]}


def test_clean_strips_and_counts_dropped_rows() -> None:
    frame = pd.DataFrame(
        {
            "text": ["  same  ", "same", "", "   ", "other", None],
            "label": ["a", "a", "a", "b", "b", "b"],
        }
    )
    cleaned, counts = clean(frame)
    assert cleaned["text"].tolist() == ["same", "other"]
    assert counts == {"rows_read": 6, "dropped_empty": 3, "dropped_duplicates": 1, "rows_kept": 2}


def test_split_is_stratified_disjoint_and_reproducible(
    balanced_rows: Callable[..., list[tuple[str, str]]],
) -> None:
    frame = pd.DataFrame(balanced_rows(per_class=20, classes=4), columns=["text", "label"])
    first = split(frame, seed=3)
    again = split(frame, seed=3)
    other = split(frame, seed=4)
    assert first.test.texts == again.test.texts and first.train.texts == again.train.texts
    assert first.test.texts != other.test.texts
    parts = [set(first.train.texts), set(first.validation.texts), set(first.test.texts)]
    assert sum(map(len, parts)) == len(frame) == len(set.union(*parts))
    for part in (first.validation, first.test):
        assert sorted(set(part.labels)) == [0, 1, 2, 3], "every class in every split"
    assert first.label_names == ["class0", "class1", "class2", "class3"]


def test_load_splits_reports_source_and_counts(
    tmp_path: Path,
    write_csv: Callable[..., Path],
    balanced_rows: Callable[..., list[tuple[str, str]]],
) -> None:
    rows = [*balanced_rows(), ("headline 0 number 0", "class0"), ("", "class1")]
    splits = load_splits(write_csv(tmp_path / "d.csv", rows))
    assert splits.summary["dropped_duplicates"] == 1
    assert splits.summary["dropped_empty"] == 1
    assert splits.summary["source"] == str(tmp_path / "d.csv")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("text,label\n", "no usable rows"),
        (
            "text,label\n" + "".join(f"t{i},a\n" for i in range(9)),
            "needs at least 2 classes, found 1 (a)",
        ),
        (
            "text,label\n" + "".join(f"t{i},a\n" for i in range(9)) + "u1,b\nu2,b\n",
            "class 'b' has 2 rows",
        ),
        ('text,label\nfine,a\n"broken,a,extra\nmore,b\n', "malformed row"),
        ("headline,label\nx,a\n", "missing column 'text'"),
    ],
)
def test_bad_input_is_a_one_line_data_error(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_splits(path)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message and "\n" not in message


def test_non_utf8_and_malformed_jsonl_name_the_place(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9 news,a\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: not UTF-8 text \(byte 0xe9"):
        load_table(latin)
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"text": "ok", "label": "a"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.jsonl:2: malformed JSON line"):
        load_table(jsonl)
