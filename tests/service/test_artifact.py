"""The artifact seam refuses what it cannot serve, naming the file and the problem: the
manifest (service/backend/artifact.py) and the ONNX graph's signature (session.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import onnx
import pytest

from service.backend.artifact import ArtifactError, load_manifest, write_manifest
from service.backend.plan import plan_for
from service.backend.session import OnnxBackend
from service.settings import Settings
from training.tiny_onnx_artifact import build_onnx_artifact, classifier_graph, random_weights


@pytest.fixture
def model_dir(tiny_artifact: Path, tmp_path: Path) -> Path:
    """A copy of the tiny artifact that a test may break."""
    return Path(shutil.copytree(tiny_artifact, tmp_path / "model"))


def edit_manifest(model_dir: Path, **changes: Any) -> Path:
    """Change manifest.json as raw JSON (no validation on the way in); return its path."""
    path = model_dir / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


def open_backend(model_dir: Path) -> OnnxBackend:
    """The backend as a worker opens it on CPU."""
    settings = Settings(model_dir=model_dir, device="cpu")
    return OnnxBackend(model_dir, plan_for(settings, single_process=True))


def replace_graph(model_dir: Path, graph: onnx.ModelProto) -> None:
    """Swap model.onnx for `graph` and re-checksum, so only the signature is wrong."""
    onnx.save(graph, str(model_dir / "model.onnx"))
    write_manifest(model_dir, load_manifest(model_dir, verify_checksums=False))


def test_the_unbroken_copy_loads_and_opens(model_dir: Path) -> None:
    """The baseline for every test below: each breaks one thing of an artifact that works."""
    manifest = load_manifest(model_dir)
    assert manifest.labels == ["business", "entertainment", "health", "scitech"]
    assert set(manifest.variants) == {"fp32", "int8"}
    assert open_backend(model_dir).labels == manifest.labels


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ArtifactError, match="model directory does not exist") as error:
        load_manifest(missing)
    assert str(error.value).startswith(str(missing))


def test_a_directory_without_a_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json: missing"):
        load_manifest(tmp_path)


def test_a_manifest_that_is_not_json_is_named(model_dir: Path) -> None:
    (model_dir / "manifest.json").write_text('{"labels": ["a", "b"],')
    with pytest.raises(ArtifactError, match="not valid JSON") as error:
        load_manifest(model_dir)
    assert str(error.value).startswith(str(model_dir / "manifest.json"))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"labels": ["business", "health", "business"]}, "labels must be unique"),
        (
            {
                "variants": {"int8": {"file": "model.int8.onnx", "precision": "int8"}},
                "device_variant": {"cpu": "int8", "cuda": "int8"},
            },
            "variants must include fp32",
        ),
        (
            {"device_variant": {"cpu": "fp32", "cuda": "fp16"}},
            r"device_variant\[cuda\] names fp16, which is not in variants",
        ),
        ({"format_version": 2}, "format_version 2 is not supported"),
        ({"labels": ["only-one"]}, "a one-label .one-logit. model must have activation sigmoid"),
        ({"max_length": 0}, "max_length: Input should be greater than 0"),
    ],
    ids=[
        "duplicate-labels",
        "no-fp32",
        "absent-device-variant",
        "format-version",
        "one-label",
        "max-length",
    ],
)
def test_a_manifest_that_fails_validation_is_named(
    model_dir: Path, changes: dict[str, Any], problem: str
) -> None:
    path = edit_manifest(model_dir, **changes)
    with pytest.raises(ArtifactError, match=problem) as error:
        load_manifest(model_dir)
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize("name", ["model.int8.onnx", "model.onnx", "tokenizer.json"])
def test_a_file_the_manifest_names_but_the_directory_lacks_is_named(
    model_dir: Path, name: str
) -> None:
    (model_dir / name).unlink()
    with pytest.raises(ArtifactError) as error:
        load_manifest(model_dir, verify_checksums=False)
    assert str(error.value) == f"{model_dir / name}: named in manifest.json but missing"


def test_a_checksummed_file_that_is_gone_is_named(model_dir: Path) -> None:
    (model_dir / "metrics.json").unlink()
    with pytest.raises(ArtifactError) as error:
        load_manifest(model_dir)
    assert str(error.value) == f"{model_dir / 'metrics.json'}: listed in manifest.json but missing"


def test_a_checksum_mismatch_is_named_unless_checksums_are_skipped(model_dir: Path) -> None:
    tokenizer = model_dir / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text() + "\n")  # still a valid tokenizer
    with pytest.raises(ArtifactError) as error:
        load_manifest(model_dir)
    assert str(error.value) == (
        f"{tokenizer}: sha256 does not match manifest.json (corrupt or edited)"
    )
    assert load_manifest(model_dir, verify_checksums=False).labels  # the only fault


def test_graph_inputs_that_differ_from_the_manifest_are_refused(model_dir: Path) -> None:
    with_types = random_weights(100, 4, seed=1, token_type_ids=True)
    replace_graph(model_dir, classifier_graph(with_types))
    with pytest.raises(ArtifactError) as error:
        open_backend(model_dir)
    assert str(error.value) == (
        "model.onnx: inputs ['attention_mask', 'input_ids', 'token_type_ids'] "
        "but the manifest says ['input_ids', 'attention_mask']"
    )


def test_a_manifest_input_the_graph_lacks_is_refused(model_dir: Path) -> None:
    edit_manifest(model_dir, input_names=["input_ids", "attention_mask", "token_type_ids"])
    with pytest.raises(
        ArtifactError, match=r"^model\.onnx: inputs \['attention_mask', 'input_ids'\]"
    ):
        open_backend(model_dir)


def test_a_graph_without_the_manifest_output_is_refused(model_dir: Path) -> None:
    weights = random_weights(100, 4, seed=1, token_type_ids=False)
    replace_graph(model_dir, classifier_graph(weights, output_name="scores"))
    with pytest.raises(ArtifactError) as error:
        open_backend(model_dir)
    assert str(error.value) == "model.onnx: no output 'logits' (has ['scores'])"


def test_a_graph_with_the_wrong_number_of_logits_is_refused(
    model_dir: Path, tmp_path: Path
) -> None:
    three = build_onnx_artifact(tmp_path / "three", labels=["a", "b", "c"], int8=False)
    replace_graph(model_dir, onnx.load(str(three / "model.onnx")))
    with pytest.raises(ArtifactError) as error:
        open_backend(model_dir)
    assert str(error.value) == "model.onnx: 3 logits but 4 labels"


def test_a_file_that_is_not_onnx_is_refused_with_its_path(model_dir: Path) -> None:
    (model_dir / "model.onnx").write_bytes(b"not a protobuf")
    write_manifest(model_dir, load_manifest(model_dir, verify_checksums=False))
    with pytest.raises(ArtifactError, match="ONNX Runtime cannot load it") as error:
        open_backend(model_dir)
    assert str(error.value).startswith(str(model_dir / "model.onnx"))
