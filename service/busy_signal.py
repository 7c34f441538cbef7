"""Which worker processes are running a batch, or did a moment ago, shared through a small
memory-mapped file: a worker whose batch finds every other worker idle (for a while) may use
all the cores (a lone request's latency), and keeps its own core's share otherwise
(throughput under load, where one thread per worker wins).

"Idle for a while" matters: under moderate load the workers' batches alternate, and a batch
that took every core in the other's short gap ran 30% slower at 4 connections (measured,
docs/serving.md). A worker counts as busy until `QUIET_S` after its last batch ended.

Layout per slot: busy byte, end of its last batch (monotonic seconds, float64), owner pid
(int32). A worker claims a free slot (no owner, or one that died) under a file lock.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import time
from pathlib import Path

QUIET_S = 0.05
_SLOT = struct.Struct("<B7xdi4x")  # busy, last end, pid: 24 bytes, aligned


class BusySignal:
    def __init__(self, path: Path, slots: int, quiet_s: float = QUIET_S) -> None:
        self.path = path
        self.slots = slots
        self.quiet_s = quiet_s
        self._file = path.open("r+b")
        self._map = mmap.mmap(self._file.fileno(), slots * _SLOT.size)
        self.slot = -1

    @staticmethod
    def create(path: Path, slots: int) -> Path:
        """The parent makes the shared file once, before the workers start."""
        path.write_bytes(bytes(slots * _SLOT.size))
        return path

    def claim(self) -> BusySignal:
        """Take a slot for this process: a free one, or one whose owner has died."""
        with (self.path.with_suffix(".lock")).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for slot in range(self.slots):
                owner = self._read(slot)[2]
                if owner in (0, os.getpid()) or not _alive(owner):
                    self.slot = slot
                    self._write(slot, False, 0.0, os.getpid())
                    return self
        raise RuntimeError(f"{self.path}: every one of {self.slots} slots is taken")

    def set_busy(self, busy: bool) -> None:
        self._write(self.slot, busy, time.monotonic(), os.getpid())

    def others_busy(self) -> bool:
        """Another worker runs a batch, or ended one less than `quiet_s` ago."""
        recent = time.monotonic() - self.quiet_s
        for slot in range(self.slots):
            if slot == self.slot:
                continue
            busy, ended, owner = self._read(slot)
            if owner and (busy or ended > recent):
                return True
        return False

    def _read(self, slot: int) -> tuple[int, float, int]:
        busy, ended, owner = _SLOT.unpack_from(self._map, slot * _SLOT.size)
        return int(busy), float(ended), int(owner)

    def _write(self, slot: int, busy: bool, ended: float, owner: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, 1 if busy else 0, ended, owner)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
