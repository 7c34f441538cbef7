"""Texts come from any CSV with a text column; the bundled sample is the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.dataset import DatasetError, default_dataset, load_texts


def _csv(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf-8")
    return path


def test_reads_the_named_column_collapsing_whitespace_and_skipping_blanks(tmp_path: Path) -> None:
    path = _csv(tmp_path, 'id,body\n1,"two\nlines"\n2,  \n3,plain text\n')
    assert load_texts(path, "body") == ("two lines", "plain text")


def test_missing_column_names_the_columns_found(tmp_path: Path) -> None:
    path = _csv(tmp_path, "headline,label\nx,y\n")
    with pytest.raises(DatasetError, match=r"no column 'text' \(columns: headline, label\)"):
        load_texts(path, "text")


def test_column_without_text_and_missing_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no non-empty text"):
        load_texts(_csv(tmp_path, "text\n \n"), "text")
    with pytest.raises(DatasetError, match="does not exist"):
        load_texts(tmp_path / "absent.csv")


def test_default_is_the_bundled_sample_with_many_texts() -> None:
    assert default_dataset().parent.name == "sample_data"
    texts = load_texts(None)
    assert len(texts) > 50 and all(texts)
