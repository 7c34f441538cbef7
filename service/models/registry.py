"""Which models a multi-model server holds, shared by its worker processes.

A model loaded through one worker's socket must be served by all of them. The answer here: one
JSON file (`models.json`) in the workers' shared directory, changed under an exclusive `flock`
and replaced atomically. `POST /models` adds a name once the worker that took it has loaded
it; `DELETE` removes it. Every other worker loads a listed model lazily on its first invoke and
unloads a model that is no longer listed (on its next request for it, or within a second).
Readers parse the file again only when its bytes changed, so an invoke costs one small read.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    url: str
    cost_mb: float
    """Resident memory the loading worker gained, measured (service/models/budget.py)."""
    token: str = ""
    """Which load this is: a name unloaded and loaded again (even from the same url, which
    SageMaker reuses per name) gets a new one, so workers drop a copy of the old load."""


class Registry:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "models.json"
        self._lock_path = directory / "models.lock"
        self._seen: bytes | None = None
        self._cache: dict[str, Entry] = {}

    def entries(self) -> dict[str, Entry]:
        """Name -> entry, in loading order. The file is read each time (a few microseconds
        for a small file) and parsed only when its bytes changed: a modification time is too
        coarse (two writes in one tick of the same size looked unchanged under load)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raw = b"{}"
        if raw != self._seen:
            self._cache = _parse(raw.decode())
            self._seen = raw
        return self._cache

    def get(self, name: str) -> Entry | None:
        return self.entries().get(name)

    def add(self, entry: Entry) -> bool:
        """Add `entry`; False when the name is already listed."""
        with self._locked() as current:
            if entry.name in current:
                return False
            current[entry.name] = entry
            self._write(current)
        return True

    def remove(self, name: str) -> bool:
        """Remove `name`; False when it was not listed."""
        with self._locked() as current:
            if current.pop(name, None) is None:
                return False
            self._write(current)
        return True

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Entry]]:
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                text = self.path.read_text() if self.path.exists() else "{}"
                yield _parse(text)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, entries: dict[str, Entry]) -> None:
        data: dict[str, Any] = {
            e.name: {"url": e.url, "cost_mb": round(e.cost_mb, 1), "token": e.token}
            for e in entries.values()
        }
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data))
        os.replace(temporary, self.path)


def _parse(text: str) -> dict[str, Entry]:
    data: dict[str, Any] = json.loads(text or "{}")
    return {
        name: Entry(
            name, str(value["url"]), float(value.get("cost_mb", 0.0)), str(value.get("token", ""))
        )
        for name, value in data.items()
    }
