"""`upload`: what lands in S3, how it is checked, and which artifacts are refused."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from deploy_helpers import BUCKET, Cloud, make_artifact, run_cli

import deploy.storage
from deploy.artifacts import build_tarball, load_deployable

KEY = "headline-serve/headline-topics/20260101-000000-910/model.tar.gz"


def test_tarball_has_the_artifact_files_at_its_root_and_is_reproducible(
    artifact: Path, tmp_path: Path
) -> None:
    local = load_deployable(artifact)
    first = build_tarball(local, tmp_path / "a.tar.gz")
    second = build_tarball(local, tmp_path / "b.tar.gz")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        assert sorted(tar.getnames()) == sorted(
            ["manifest.json", "model.onnx", "tokenizer.json", "metrics.json", "README.md"]
        )


def test_upload_is_encrypted_checksummed_and_not_repeated(cloud: Cloud, artifact: Path) -> None:
    result = run_cli("upload", str(artifact))
    assert result.exit_code == 0, result.output
    assert f"s3://{BUCKET}/{KEY}" in result.stdout
    s3 = cloud.client("s3")
    head = s3.head_object(Bucket=BUCKET, Key=KEY, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ChecksumSHA256"]
    assert len(head["Metadata"]["sha256"]) == 64
    body = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["model_version"] == "20260101-000000-910"

    again = run_cli("upload", str(artifact))
    assert again.exit_code == 0
    assert "nothing uploaded" in again.stdout


def test_a_version_is_never_overwritten_with_different_bytes(
    cloud: Cloud, artifact: Path, tmp_path: Path
) -> None:
    assert run_cli("upload", str(artifact)).exit_code == 0
    changed = make_artifact(tmp_path / "changed")  # same version, other bytes
    (changed / "README.md").write_text("# edited\n", encoding="utf-8")
    from service.backend.artifact import load_manifest, write_manifest

    write_manifest(changed, load_manifest(changed, verify_checksums=False))
    result = run_cli("upload", str(changed))
    assert result.exit_code == 1
    assert "already holds different bytes" in result.stderr


def test_multipart_upload_is_verified_against_the_part_checksums(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy.storage, "PART_SIZE", 5 * 1024 * 1024)
    big = make_artifact(tmp_path / "big")
    (big / "model.onnx").write_bytes(bytes(range(256)) * (48 * 1024))  # 12 MiB: 3 parts
    from service.backend.artifact import load_manifest, write_manifest

    write_manifest(big, load_manifest(big, verify_checksums=False))
    result = run_cli("upload", str(big), "--uncompressed")
    assert result.exit_code == 0, result.output
    prefix = "headline-serve/headline-topics/20260101-000000-910/model/"
    assert f"s3://{BUCKET}/{prefix}" in result.stdout
    listing = cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    sizes = {item["Key"].removeprefix(prefix): item["Size"] for item in listing["Contents"]}
    assert sizes["model.onnx"] == 12 * 1024 * 1024
    assert set(sizes) == {
        "manifest.json",
        "model.onnx",
        "tokenizer.json",
        "metrics.json",
        "README.md",
    }


def test_a_ready_made_tarball_is_checked_and_uploaded_as_is(
    cloud: Cloud, artifact: Path, tmp_path: Path
) -> None:
    tarball = build_tarball(load_deployable(artifact), tmp_path / "model.tar.gz")
    result = run_cli("upload", str(tarball))
    assert result.exit_code == 0, result.output
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    assert body == tarball.read_bytes()


def test_a_tarball_with_a_top_level_folder_is_refused(
    cloud: Cloud, artifact: Path, tmp_path: Path
) -> None:
    nested = tmp_path / "nested.tar.gz"
    with tarfile.open(nested, "w:gz") as tar:
        tar.add(artifact, arcname="model")
    result = run_cli("upload", str(nested))
    assert result.exit_code == 1
    assert "not at the archive root" in result.stderr


def test_corrupt_artifact_is_refused(cloud: Cloud, artifact: Path) -> None:
    (artifact / "model.onnx").write_bytes(b"tampered")
    result = run_cli("upload", str(artifact))
    assert result.exit_code == 1
    assert "sha256 does not match" in result.stderr
    assert "Contents" not in cloud.client("s3").list_objects_v2(Bucket=BUCKET)


def test_artifact_that_failed_its_quality_gate_is_refused(cloud: Cloud, tmp_path: Path) -> None:
    failed = make_artifact(tmp_path / "failed", accuracy=0.5, gate_passed=False)
    result = run_cli("upload", str(failed))
    assert result.exit_code == 1
    assert "quality gate failed" in result.stderr


def test_verification_catches_an_object_that_differs_from_the_local_file(
    cloud: Cloud, artifact: Path
) -> None:
    from deploy.aws import Aws
    from deploy.errors import DeployError
    from deploy.storage import Uploader

    uploader = Uploader(Aws("eu-west-1"), BUCKET)
    local = artifact / "model.onnx"
    assert uploader.put_file(local, "check/model.onnx") is True
    uploader._verify(local, "check/model.onnx")  # the honest upload passes
    cloud.client("s3").put_object(
        Bucket=BUCKET,
        Key="check/model.onnx",
        Body=b"X" * local.stat().st_size,
        ChecksumAlgorithm="SHA256",
    )
    with pytest.raises(DeployError, match="SHA-256 after upload differs"):
        uploader._verify(local, "check/model.onnx")
