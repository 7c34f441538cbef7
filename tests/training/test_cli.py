"""`python -m training train|package`: exit codes, one-line errors, the quality gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.backend.artifact import load_manifest
from training.cli import main
from training.data import SAMPLE_DATA

REPO = Path(__file__).resolve().parents[2]


def test_bad_data_path_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "train",
            "--data",
            str(missing),
            "--output",
            str(tmp_path / "a"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {missing}: no such file"
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text-column", "headline"], "missing column 'headline'"),
        (["--cpu-variant", "fp8"], "--cpu-variant fp8: expected auto, fp32 or int8"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["train", "--data", str(SAMPLE_DATA), "--output", str(tmp_path / "a"), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_option_validation_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err


@pytest.mark.slow
def test_quality_gate_fails_the_run_and_marks_the_artifact(
    tmp_path: Path, tiny_base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model"
    code = main(
        [
            "train",
            "--output", str(output),
            "--base-model", str(tiny_base),
            "--epochs", "1",
            "--max-length", "32",
            "--cpu-variant", "fp32",
            "--fp16", "off",
            "--min-accuracy", "0.99",
            "--no-progress",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "quality gate failed" in captured.err
    assert f"artifact: {output}" in captured.out and "test accuracy:" in captured.out
    manifest = load_manifest(output)
    assert not manifest.deployable and manifest.quality_gate.threshold == 0.99
    metrics = json.loads((output / "metrics.json").read_text())
    assert len(metrics["confusion_matrix"]) == 4 and metrics["history"][0]["epoch"] == 1.0
    for figure in ("confusion_matrix.png", "training_curves.png"):
        assert (output / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "# headline-topics" in (output / "README.md").read_text()
    checkpoint = tmp_path / "model-pytorch"
    assert (checkpoint / "config.json").is_file() and (checkpoint / "tokenizer.json").is_file()
