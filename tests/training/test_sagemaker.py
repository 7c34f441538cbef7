"""The SageMaker training-job contract against a directory laid out as SageMaker lays it out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.backend.artifact import load_manifest
from training.data import SAMPLE_DATA
from training.sagemaker import JobError, find_data, main, read_hyperparameters

pytestmark = pytest.mark.slow


def make_job(root: Path, hyperparameters: dict[str, str], channel: str | None = "training") -> Path:
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    if channel:
        (root / "input" / "data" / channel).mkdir(parents=True)
        shutil.copyfile(SAMPLE_DATA, root / "input" / "data" / channel / "headlines.csv")
    (root / "model").mkdir()  # SageMaker creates it (it may be a mount: written into, not replaced)
    return root


def tiny_hyperparameters(tiny_base: Path, **extra: str) -> dict[str, str]:
    """String values, as SageMaker writes them."""
    return {
        "base_model": str(tiny_base),
        "epochs": "1",
        "max-length": "32",
        "cpu_variant": "fp32",
        "fp16": "off",
        **extra,
    }


def test_training_job_writes_the_artifact_into_opt_ml_model(
    tmp_path: Path, tiny_base: Path
) -> None:
    root = make_job(tmp_path / "ml", tiny_hyperparameters(tiny_base, seed="7"))
    model_dir_inode = (root / "model").stat().st_ino
    assert main(["--root", str(root)]) == 0
    manifest = load_manifest(root / "model")
    assert manifest.labels == ["business", "entertainment", "health", "scitech"]
    assert manifest.dataset["source"] == str(root / "input" / "data" / "training" / "headlines.csv")
    assert manifest.dataset["seed"] == 7
    assert (root / "model").stat().st_ino == model_dir_inode
    assert (root / "output" / "data" / "model-pytorch" / "config.json").is_file()
    assert not (root / "output" / "failure").exists()


def test_failed_job_writes_one_line_failure_reason(
    tmp_path: Path, tiny_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_job(
        tmp_path / "ml", tiny_hyperparameters(tiny_base, min_accuracy="0.99"), channel=None
    )
    monkeypatch.setenv("SM_ROOT", str(root))
    assert main([]) == 1
    reason = (root / "output" / "failure").read_text()
    assert reason.startswith("quality gate failed: test accuracy") and reason.count("\n") == 1
    manifest = load_manifest(root / "model")
    assert manifest.dataset["source"] == str(SAMPLE_DATA), "no channel: the bundled sample"
    assert not manifest.deployable


def test_bad_hyperparameters_fail_before_training(tmp_path: Path) -> None:
    root = make_job(tmp_path / "ml", {"epochs": "three"})
    assert main(["--root", str(root)]) == 2
    assert "hyperparameter epochs='three'" in (root / "output" / "failure").read_text()
    config = root / "input" / "config" / "hyperparameters.json"
    config.write_text(json.dumps({"epoch": "3"}))
    with pytest.raises(JobError, match="unknown hyperparameter 'epoch'"):
        read_hyperparameters(config)


def test_channel_discovery(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert find_data(data, None) == SAMPLE_DATA
    (data / "eval").mkdir(parents=True)
    (data / "extra").mkdir()
    with pytest.raises(JobError, match="several channels"):
        find_data(data, None)
    (data / "train").mkdir()
    (data / "train" / "a.csv").write_text("text,label\n")
    (data / "train" / "b.jsonl").write_text("")
    with pytest.raises(
        JobError, match=r"expected one \.csv/\.jsonl/\.parquet file, found a\.csv, b\.jsonl"
    ):
        find_data(data, None)
    assert find_data(data, "b.jsonl") == data / "train" / "b.jsonl"
