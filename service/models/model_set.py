"""The models of a multi-model server, in one worker: load, look up (loading lazily what
another worker loaded), unload, evict, drain. Each model is a unit of its own
(service/models/unit.py): its own manifest, variant, truncation policy, length queue, batches,
admission and shedding, so a flood on one model sheds that model's requests and no other's.
Which models the server holds is the shared registry's (service/models/registry.py); whether
one more fits is the memory budget's (service/models/budget.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from service.backend.artifact import ArtifactError, load_manifest
from service.backend.plan import ExecutionPlan
from service.core.errors import (
    InsufficientMemory,
    InvalidArtifact,
    ModelExists,
    ModelNotLoaded,
    NotReady,
)
from service.core.predictor import Model, Predictor, PredictorObserver
from service.memory import resident_mb
from service.models.budget import MemoryBudget, trim
from service.models.model_metrics import LabelledObserver, ModelMetrics
from service.models.registry import Entry, Registry
from service.models.unit import model_unit, onnx_loader, plan_for_model
from service.settings import Settings

log = logging.getLogger(__name__)

SYNC_EVERY_S = 1.0
"""How often a worker unloads the models another worker's DELETE took off the registry."""

LoaderFactory = Callable[[Path, ExecutionPlan], Callable[[], Model]]


@dataclass(slots=True)
class Loaded:
    name: str
    url: str
    predictor: Predictor
    cost_mb: float
    token: str = ""
    """The registry entry's token of the load this copy belongs to."""
    last_used: float = field(default_factory=time.monotonic)


class ModelSet:
    def __init__(
        self,
        settings: Settings,
        plan: ExecutionPlan,
        observer: PredictorObserver,
        metrics: ModelMetrics,
        directory: Path,
        *,
        memory_limit_mb: float | None,
        loader: LoaderFactory | None = None,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.registry = Registry(directory)
        self.budget = MemoryBudget(directory, memory_limit_mb, settings.memory_margin_mb)
        self.metrics = metrics
        self._observer = observer
        self._loader = loader or (lambda path, p: onnx_loader(settings, p, path))
        self._models: dict[str, Loaded] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._draining = False
        self._sync: asyncio.Task[None] | None = None
        self.evict = settings.evict_lru and not settings.sagemaker_multi_model

    @property
    def draining(self) -> bool:
        return self._draining

    def start(self) -> None:
        # ONNX Runtime and the tokenizers are imported now, so a load measures the model alone.
        import service.backend.session  # noqa: F401

        self._sync = asyncio.get_running_loop().create_task(self._sync_loop(), name="models")

    def local(self) -> dict[str, Loaded]:
        """The models this worker holds now."""
        return self._models

    async def load(self, name: str, url: str) -> Entry:
        """Load `url` as `name` here and list it for every worker (POST /models)."""
        if self._draining:
            raise NotReady("the server is draining")
        async with self._lock(name):
            if self.registry.get(name) is not None:
                raise ModelExists(f"model {name!r} is already loaded")
            if name in self._models:  # unloaded through another worker, not yet seen here
                await self._unload_here(name)
            loaded = await self._load_here(name, url, reserve=self.plan.workers)
            loaded.token = os.urandom(8).hex()
            entry = Entry(name, url, loaded.cost_mb, loaded.token)
            if not self.registry.add(entry):  # another worker listed it meanwhile
                await self._unload_here(name)
                raise ModelExists(f"model {name!r} is already loaded")
        log.info("loaded model %s from %s (%.1f MB resident)", name, url, loaded.cost_mb)
        return entry

    async def predictor(self, name: str) -> Predictor:
        """The model's predictor; loaded here first if another worker loaded it (a cold
        invoke); ModelNotLoaded when no worker did, or it was unloaded."""
        held = self._models.get(name)
        entry = self.registry.get(name)
        if entry is None:
            if held is not None:
                await self._unload_here(name)
            raise ModelNotLoaded(f"model {name!r} is not loaded")
        if held is None or held.token != entry.token:
            async with self._lock(name):
                held = self._models.get(name)
                if held is not None and held.token != entry.token:  # unloaded, loaded anew
                    await self._unload_here(name)
                    held = None
                if held is None:
                    held = await self._load_here(name, entry.url, reserve=1)
                    held.token = entry.token
                    log.info("loaded model %s on first invoke in this worker", name)
        held.last_used = time.monotonic()
        return held.predictor

    async def unload(self, name: str) -> None:
        """Unlist `name` for every worker and unload it here (DELETE /models/{name})."""
        if not self.registry.remove(name):
            raise ModelNotLoaded(f"model {name!r} is not loaded")
        await self._unload_here(name)

    async def _load_here(self, name: str, url: str, *, reserve: int) -> Loaded:
        """Load here, measured. `reserve`: in how many workers room is needed (POST /models
        reserves it in every worker, so that their lazy loads fit too)."""
        path = Path(url)
        graph_mb = _graph_mb(path, self.settings, self.plan)
        await self._make_room(name, self.budget.estimate_mb(graph_mb, reserve))
        manifest = load_manifest(path, verify_checksums=False)
        plan = plan_for_model(self.settings, self.plan, manifest)
        observer = LabelledObserver(self._observer, self.metrics, name)
        predictor = model_unit(self.settings, plan, self._loader(path, plan), observer)
        before = resident_mb()
        await predictor.load()
        if predictor.status != "ready":
            error = predictor.error
            await predictor.close()
            trim()
            raise InvalidArtifact(f"model {name!r} cannot be served: {error}")
        cost = max(0.0, resident_mb() - before)
        loaded = Loaded(name, url, predictor, cost)
        self._models[name] = loaded
        self.budget.record(graph_mb, cost)
        self.metrics.memory_bytes.labels(self.metrics.label(name)).set(cost * 1e6)
        self.metrics.loaded.set(len(self._models))
        room = self.budget.room_mb()
        if room is not None and room < 0:  # the estimate was short: undo rather than risk OOM
            await self._unload_here(name)
            raise InsufficientMemory(
                f"model {name!r} took {cost:.0f} MB and passed the memory budget by "
                f"{-room:.0f} MB; unload a model first"
            )
        return loaded

    async def _make_room(self, name: str, needed_mb: float) -> None:
        room = self.budget.room_mb()
        while room is not None and room < needed_mb:
            victim = self._least_recent() if self.evict else None
            if victim is None:
                raise InsufficientMemory(
                    f"model {name!r} needs about {needed_mb:.0f} MB and {max(room, 0):.0f} MB "
                    f"is left of the {self.budget.limit_mb:.0f} MB budget; unload a model first"
                )
            log.info("evicting least recently used model %s to load %s", victim, name)
            self.registry.remove(victim)
            await self._unload_here(victim)
            room = self.budget.room_mb()

    def _least_recent(self) -> str | None:
        if not self._models:
            return None
        return min(self._models.values(), key=lambda m: m.last_used).name

    async def _unload_here(self, name: str) -> None:
        loaded = self._models.pop(name, None)
        if loaded is None:
            return
        await loaded.predictor.close()
        del loaded
        gc.collect()
        trim()
        self.metrics.loaded.set(len(self._models))
        log.info("unloaded model %s", name)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(SYNC_EVERY_S)
            listed = self.registry.entries()
            for name in [n for n in self._models if n not in listed]:
                if not self._lock(name).locked():
                    await self._unload_here(name)

    def begin_drain(self) -> None:
        self._draining = True
        for loaded in self._models.values():
            loaded.predictor.begin_drain()

    async def close(self) -> None:
        self.begin_drain()
        if self._sync is not None:
            self._sync.cancel()
        for name in list(self._models):
            await self._unload_here(name)
        self.budget.leave()


def _graph_mb(path: Path, settings: Settings, plan: ExecutionPlan) -> float:
    """Size of the ONNX graph this model would serve; InvalidArtifact, in one line, when the
    directory or its manifest is missing or broken."""
    if not path.is_dir():
        raise InvalidArtifact(f"no model artifact directory at {path}")
    try:
        manifest = load_manifest(path, verify_checksums=False)
        variant = plan_for_model(settings, plan, manifest).precision
        graph = path / manifest.variants[variant].file
        return graph.stat().st_size / 1e6
    except ArtifactError as exc:
        raise InvalidArtifact(f"{path}: {str(exc).splitlines()[0]}") from None
    except (OSError, KeyError) as exc:
        raise InvalidArtifact(f"{path}: {exc}") from None
