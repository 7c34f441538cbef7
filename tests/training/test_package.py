"""model.tar.gz: files at the archive root, as SageMaker unpacks it into /opt/ml/model."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from deploy.artifacts import extract_data
from service.backend.artifact import load_manifest
from training.cli import main


def test_package_puts_every_file_at_the_archive_root(tiny_artifact: Path, tmp_path: Path) -> None:
    archive = tmp_path / "out" / "model.tar.gz"
    assert main(["package", str(tiny_artifact), "--output", str(archive)]) == 0
    with tarfile.open(archive, "r:gz") as tar:
        names = sorted(tar.getnames())
        assert all(m.isfile() and m.uid == 0 and m.mtime == 0 for m in tar.getmembers())
        unpacked = tmp_path / "opt-ml-model"
        extract_data(tar, unpacked)
    assert names == sorted(p.name for p in tiny_artifact.iterdir())
    assert "manifest.json" in names and "model.onnx" in names and "tokenizer.json" in names
    assert (
        load_manifest(unpacked, verify_checksums=True).labels == load_manifest(tiny_artifact).labels
    )


def test_package_is_byte_for_byte_reproducible(tiny_artifact: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    assert main(["package", str(tiny_artifact), "--output", str(first)]) == 0
    assert main(["package", str(tiny_artifact), "--output", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()


def test_package_refuses_a_tampered_artifact(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_artifact, copy)
    (copy / "metrics.json").write_text("{}")
    assert main(["package", str(copy), "--output", str(tmp_path / "m.tar.gz")]) == 2
    assert "sha256 does not match" in capsys.readouterr().err
    assert not (tmp_path / "m.tar.gz").exists()
    assert main(["package", str(tmp_path / "none"), "--output", str(tmp_path / "m.tar.gz")]) == 2
