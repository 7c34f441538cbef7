"""Model data in S3: model.tar.gz, or the uncompressed files for `CompressionType=None`.

Keys are versioned (`<prefix>/<model_name>/<model_version>/`) and never overwritten with
different bytes. Every object is encrypted at rest, sent with a SHA-256 checksum that S3
verifies per part, and checked again after the upload against the local file.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from deploy.artifacts import LocalArtifact, build_tarball
from deploy.aws import Aws
from deploy.errors import DeployError
from service.backend.artifact import sha256_file

PART_SIZE = 16 * 1024 * 1024
# HeadObject of a missing key answers 403, not 404, to a caller without s3:ListBucket on the
# bucket (S3 API: HeadObject); ours is granted only under a prefix (`s3:prefix` condition),
# which a HEAD request does not carry. A real denial still fails on the read or write after.
ABSENT = frozenset({"404", "NoSuchKey", "NotFound", "403", "Forbidden", "AccessDenied"})
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ModelData:
    """Where SageMaker finds the model, in the shape CreateModel wants."""

    uri: str
    compressed: bool

    def container_fields(self) -> dict[str, Any]:
        if self.compressed:
            return {"ModelDataUrl": self.uri}
        return {
            "ModelDataSource": {
                "S3DataSource": {
                    "S3Uri": self.uri,
                    "S3DataType": "S3Prefix",
                    "CompressionType": "None",
                }
            }
        }

    @classmethod
    def from_container(cls, container: dict[str, Any]) -> ModelData:
        if "ModelDataUrl" in container:
            return cls(container["ModelDataUrl"], compressed=True)
        source = container.get("ModelDataSource", {}).get("S3DataSource", {})
        if "S3Uri" in source:
            return cls(source["S3Uri"], compressed=source.get("CompressionType") != "None")
        raise DeployError("the model package names no model data")


def version_prefix(prefix: str, artifact: LocalArtifact) -> str:
    manifest = artifact.manifest
    parts = [prefix.strip("/"), manifest.model_name, manifest.model_version]
    return "/".join(part for part in parts if part)


def _checksums(path: Path, part_size: int) -> set[str]:
    """S3's SHA-256 forms for this file: whole object, and composite of its parts."""
    whole = hashlib.sha256()
    part_digests: list[bytes] = []
    with path.open("rb") as handle:
        while block := handle.read(part_size):
            whole.update(block)
            part_digests.append(hashlib.sha256(block).digest())
    composite = base64.b64encode(hashlib.sha256(b"".join(part_digests)).digest()).decode()
    return {
        base64.b64encode(whole.digest()).decode(),
        composite,
        f"{composite}-{len(part_digests)}",
    }


class Uploader:
    def __init__(self, aws: Aws, bucket: str, kms_key_id: str | None = None) -> None:
        self.aws = aws
        self.bucket = bucket
        self.kms_key_id = kms_key_id
        self.transfer = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE)

    def _existing_sha256(self, key: str) -> str | None:
        """The stored checksum, or None when the key is absent (404, or 403: see ABSENT)."""
        try:
            head = self.aws.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ABSENT:
                return None
            raise
        return str(head.get("Metadata", {}).get("sha256", ""))

    def put_file(self, path: Path, key: str, progress: Progress | None = None) -> bool:
        """Upload unless the same bytes are already there; True when it uploaded."""
        digest = sha256_file(path)
        existing = self._existing_sha256(key)
        if existing == digest:
            return False
        if existing is not None:
            raise DeployError(
                f"s3://{self.bucket}/{key} already holds different bytes; model versions are "
                "immutable, so train a new version instead of overwriting this one"
            )
        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": digest}}
        if self.kms_key_id:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        else:
            extra["ServerSideEncryption"] = "AES256"
        self.aws.s3.upload_file(
            str(path), self.bucket, key, ExtraArgs=extra, Config=self.transfer, Callback=progress
        )
        self._verify(path, key)
        return True

    def _verify(self, path: Path, key: str) -> None:
        head = self.aws.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        where = f"s3://{self.bucket}/{key}"
        if int(head["ContentLength"]) != path.stat().st_size:
            raise DeployError(f"{where}: size after upload differs from {path}; upload again")
        remote = head.get("ChecksumSHA256")
        if remote and remote not in _checksums(path, PART_SIZE):
            raise DeployError(f"{where}: SHA-256 after upload differs from {path}; upload again")

    def upload(
        self,
        artifact: LocalArtifact,
        prefix: str,
        compressed: bool = True,
        tarball: Path | None = None,
        progress: Progress | None = None,
    ) -> tuple[ModelData, int]:
        """Upload the artifact; returns where it is and how many objects were sent."""
        base = version_prefix(prefix, artifact)
        if compressed:
            tarball = tarball or build_tarball(artifact)
            key = f"{base}/model.tar.gz"
            uploaded = self.put_file(tarball, key, progress)
            return ModelData(f"s3://{self.bucket}/{key}", compressed=True), int(uploaded)
        count = 0
        for path in artifact.files:
            relative = path.relative_to(artifact.directory).as_posix()
            count += int(self.put_file(path, f"{base}/model/{relative}", progress))
        return ModelData(f"s3://{self.bucket}/{base}/model/", compressed=False), count

    def put_json(self, key: str, body: bytes) -> str:
        extra: dict[str, Any] = {"ServerSideEncryption": "AES256"}
        if self.kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        self.aws.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            **extra,
        )
        return f"s3://{self.bucket}/{key}"
