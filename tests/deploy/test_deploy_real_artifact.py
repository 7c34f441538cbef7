"""The seam with training: a real exported artifact survives upload and unpacks as SageMaker would."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from deploy_helpers import BUCKET, Cloud, run_cli

from deploy.artifacts import extract_data
from service.backend.artifact import load_manifest


@pytest.mark.slow
def test_real_artifact_uploads_and_unpacks_into_a_servable_model_dir(
    cloud: Cloud, tiny_artifact: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(tiny_artifact)
    result = run_cli("upload", str(tiny_artifact))
    assert result.exit_code == 0, result.output
    key = f"headline-serve/{manifest.model_name}/{manifest.model_version}/model.tar.gz"
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    model_dir = tmp_path / "opt-ml-model"  # what SageMaker does with model.tar.gz
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        extract_data(tar, model_dir)
    unpacked = load_manifest(model_dir)  # checksums of every file verified
    assert unpacked.model_version == manifest.model_version
    assert set(unpacked.variants) == set(manifest.variants)
