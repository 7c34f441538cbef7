"""What a SageMaker multi-model instance does with a container's models, for the runtime
stand-in: fetch a TargetModel's tarball from the prefix (here a local folder), extract it and
load it through the container's `POST /models`; on a 507, unload the least recently used model
and try again (AWS docs: "Custom containers contract for multi-model endpoints").

The container's `model_name` is opaque to SageMaker's caller; here it is the TargetModel less
`.tar.gz`, with `/` as `--`, so that the server's logs and metrics read as the models' names.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from pathlib import Path

from deploy.artifacts import extract_data

SUFFIX = ".tar.gz"
LOAD_TIMEOUT_S = 360.0  # SageMaker keeps loading a model for up to 360 s


class ModelMissing(Exception):
    """No tarball for the TargetModel under the prefix."""


class LoadRefused(Exception):
    """The container would not load the model (after unloading all it could, for a 507)."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def container_name(target_model: str) -> str:
    return target_model.removesuffix(SUFFIX).replace("/", "--")


class ModelCache:
    """One container's loaded models, least recently used first; thread-safe."""

    def __init__(self, models_dir: Path, upstream: str, work_dir: Path | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.upstream = upstream.rstrip("/")
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="mme-standin-"))
        self.loaded: OrderedDict[str, str] = OrderedDict()  # container name -> TargetModel
        self.loads = 0
        self.unloads = 0
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def ensure_loaded(self, target_model: str) -> str:
        """The container name to invoke, loading the model first if this container lacks it."""
        name = container_name(target_model)
        with self._lock:
            if name in self.loaded:
                self.loaded.move_to_end(name)
                return name
            gate = self._loading.setdefault(name, threading.Lock())
        with gate:  # one load per model at a time; the others wait for it
            with self._lock:
                if name in self.loaded:
                    self.loaded.move_to_end(name)
                    return name
            self._load(name, self._extracted(target_model))
            with self._lock:
                self.loaded[name] = target_model
                self.loads += 1
        return name

    def forget(self, target_model: str) -> None:
        with self._lock:
            self.loaded.pop(container_name(target_model), None)

    def _extracted(self, target_model: str) -> Path:
        """The model's directory, extracted from `<models_dir>/<target_model>` once."""
        tarball = (self.models_dir / target_model).resolve()
        if not tarball.is_relative_to(self.models_dir.resolve()) or not tarball.is_file():
            raise ModelMissing(
                f"Failed to download model data (no {target_model} under {self.models_dir})."
            )
        directory = self.work_dir / container_name(target_model) / "model"
        if not directory.is_dir():
            partial = directory.with_name("model.partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            with tarfile.open(tarball, "r:gz") as archive:
                extract_data(archive, partial)
            partial.rename(directory)
        return directory

    def _load(self, name: str, directory: Path) -> None:
        while True:
            status, body = self._call(
                "POST", "/models", {"model_name": name, "url": str(directory)}
            )
            if status in (200, 409):  # 409: loaded already (by another path to this container)
                return
            victim = self._least_recent() if status == 507 else None
            if victim is None:
                raise LoadRefused(
                    f"Container refused to load model {name} ({status}): {body[:200]}",
                    status,
                    body,
                )
            self._call("DELETE", f"/models/{victim}", None)
            with self._lock:
                self.loaded.pop(victim, None)
                self.unloads += 1

    def _least_recent(self) -> str | None:
        with self._lock:
            return next(iter(self.loaded), None)

    def _call(self, method: str, path: str, payload: dict[str, str] | None) -> tuple[int, str]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.upstream + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=LOAD_TIMEOUT_S) as answer:
                return answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")
