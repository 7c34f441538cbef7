"""Compute requirements of one inference-component copy, from measured figures.

A copy is one serving container with one worker per reserved core. What a worker needs was
measured on the server under load by `make bench-serve` (service/backend/plan.py,
docs/serving.md): about 115 MB plus 1.7x the size of the ONNX graph it serves on CPU (211 MB
resident for the default 59 MB int8 graph, 264 MB for its 91 MB fp32 graph), and the parent
process with its helper about 75 MB. The server plans its workers within 80% of the memory it is
given; the copy reserves enough that `cores` workers fit in that share.

The figures are restated here (deploy does not install the server's dependencies);
tests/deploy/test_deploy_hosting_components.py checks they equal the server's.
"""

from __future__ import annotations

import math
import tarfile
from pathlib import Path

from deploy.errors import ConfigError
from service.backend.artifact import MANIFEST_NAME, ArtifactError, Manifest, load_manifest

WORKER_BASE_MB = 115.0
WORKER_PER_MODEL_MB = 1.7
PARENT_MB = 75.0
MEMORY_SHARE = 0.8
STEP_MB = 128  # reserve in round steps: the figures are measurements, not exact bounds


def copy_memory_mb(graph_mb: float, workers: int) -> int:
    """Memory to reserve for a copy running `workers` workers on a graph of `graph_mb`."""
    needed = (
        PARENT_MB + workers * (WORKER_BASE_MB + WORKER_PER_MODEL_MB * graph_mb)
    ) / MEMORY_SHARE
    return math.ceil(needed / STEP_MB) * STEP_MB


def cpu_graph_mb(artifact: Path) -> float:
    """Size in MB of the ONNX graph the server runs on CPU, from an artifact directory or its
    model.tar.gz (checked again when uploaded)."""
    try:
        if artifact.is_dir():
            manifest = load_manifest(artifact, verify_checksums=False)
            return (artifact / manifest.variant_for("cpu").file).stat().st_size / 1e6
        with tarfile.open(artifact, "r:gz") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            extracted = tar.extractfile(members[MANIFEST_NAME])
            if extracted is None:
                raise KeyError(MANIFEST_NAME)
            manifest = Manifest.model_validate_json(extracted.read())
            return members[manifest.variant_for("cpu").file].size / 1e6
    except (OSError, KeyError, ValueError, ArtifactError, tarfile.TarError) as exc:
        raise ConfigError(
            f"cannot size a component copy from {artifact} ({exc}); pass --memory-per-copy"
        ) from exc
