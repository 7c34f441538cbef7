"""model.tar.gz exactly as SageMaker unpacks it into /opt/ml/model: files at the archive root.

The archive is reproducible (sorted names, fixed mtimes and owners, gzip without a timestamp):
the same artifact always gives the same bytes, so an S3 upload can be skipped by checksum.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
from pathlib import Path

from service.backend.artifact import Manifest, load_manifest


def package_artifact(model_dir: Path, output: Path) -> Manifest:
    """Check `model_dir` (manifest, checksums), then write `output` atomically."""
    model_dir = Path(model_dir)
    output = Path(output)
    manifest = load_manifest(model_dir, verify_checksums=True)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{output.name}-", dir=output.parent)
    try:
        with (
            os.fdopen(handle, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path in files:
                tar.add(path, arcname=path.relative_to(model_dir).as_posix(), filter=_normalise)
        os.replace(temp_name, output)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return manifest


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o644
    return info
