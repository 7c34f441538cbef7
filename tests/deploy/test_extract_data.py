"""Unpacking a model.tar.gz: plain files inside the destination only, with or without
tarfile's "data" filter (Pythons before 3.11.4 lack it)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from deploy.artifacts import extract_data


def _archive(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    return path


@pytest.mark.parametrize("has_filter", [True, False])
def test_plain_files_unpack_and_an_escaping_member_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, has_filter: bool
) -> None:
    if not has_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = _archive(tmp_path, ["manifest.json", "sub/model.onnx"])
    with tarfile.open(good, "r:gz") as tar:
        extract_data(tar, tmp_path / "out")
    assert (tmp_path / "out" / "manifest.json").read_bytes() == b"{}"
    assert (tmp_path / "out" / "sub" / "model.onnx").is_file()
    evil = _archive(tmp_path / "out", ["../escaped.json"])
    with tarfile.open(evil, "r:gz") as tar, pytest.raises(tarfile.TarError):
        extract_data(tar, tmp_path / "out2")
    assert not (tmp_path / "escaped.json").exists()
