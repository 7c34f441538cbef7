"""The local model artifact: validate it through the seam and pack it for SageMaker.

SageMaker unpacks `model.tar.gz` into /opt/ml/model, so the files sit at the archive root.
The archive is reproducible (sorted names, zeroed owners and times) so the same artifact
always has the same sha256 and a second upload can be skipped.
"""

from __future__ import annotations

import gzip
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploy.errors import DeployError
from service.backend.artifact import MANIFEST_NAME, ArtifactError, Manifest, load_manifest


@dataclass(frozen=True)
class LocalArtifact:
    directory: Path
    manifest: Manifest

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.directory.rglob("*") if p.is_file())


def load_deployable(directory: Path) -> LocalArtifact:
    """The artifact at `directory`, or a DeployError if it is invalid or failed its gate."""
    try:
        manifest = load_manifest(directory)
    except ArtifactError as exc:
        raise DeployError(f"refusing the artifact: {exc}") from exc
    if not manifest.deployable:
        gate = manifest.quality_gate
        raise DeployError(
            f"refusing the artifact: training's quality gate failed ({gate.metric} {gate.value} "
            f"< {gate.threshold}); retrain or lower the threshold at training time"
        )
    return LocalArtifact(Path(directory), manifest)


def accuracy_of(manifest: Manifest) -> float:
    value = manifest.metrics.get("accuracy")
    if value is None:
        raise DeployError(
            f"{MANIFEST_NAME} has no metrics.accuracy, so the quality gate cannot be checked"
        )
    return float(value)


def build_tarball(artifact: LocalArtifact, destination: Path | None = None) -> Path:
    """model.tar.gz with every artifact file at the root; returns its path."""
    if destination is None:
        destination = Path(tempfile.mkdtemp(prefix="deploy-")) / "model.tar.gz"
    with (
        destination.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in artifact.files:
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(artifact.directory)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return destination


def open_artifact(path: Path) -> tuple[LocalArtifact, Path | None]:
    """An artifact directory, or a ready-made model.tar.gz unpacked to check it.

    Returns the validated artifact and, for a tarball, the tarball itself (uploaded as is).
    """
    path = Path(path)
    if path.is_dir():
        return load_deployable(path), None
    if not path.is_file():
        raise DeployError(f"{path}: no such artifact directory or model.tar.gz")
    unpacked = Path(tempfile.mkdtemp(prefix="deploy-check-"))
    try:
        with tarfile.open(path, "r:gz") as tar:
            extract_data(tar, unpacked)
    except (tarfile.TarError, OSError) as exc:
        raise DeployError(f"{path}: not a readable gzip tar archive ({exc})") from exc
    if not (unpacked / MANIFEST_NAME).is_file():
        raise DeployError(
            f"{path}: {MANIFEST_NAME} is not at the archive root (SageMaker unpacks it into "
            "/opt/ml/model); pack the artifact directory's contents, not the directory"
        )
    return load_deployable(unpacked), path


def extract_data(tar: tarfile.TarFile, destination: Path) -> None:
    """Unpack plain files and folders only, inside `destination` (tarfile's "data" filter;
    checked by hand on Pythons before 3.11.4, Debian 12's 3.11.2 among them, which lack it)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(destination, filter="data")
        return
    root = destination.resolve()
    for member in tar.getmembers():
        target = (destination / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise tarfile.TarError(f"refusing {member.name!r}: not a plain file inside the archive")
    tar.extractall(destination)
