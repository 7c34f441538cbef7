"""Resident memory of a running server, per process and in total, with each worker's parts.

From outside, on Linux: /proc/PID/smaps_rollup gives each process's resident set (RSS) and its
proportional share (PSS: a page shared by n processes counts 1/n in each, so the PSS of all
processes is the memory the server really holds; the sum of their RSS counts shared pages once
per process). /proc/PID/smaps gives the pages of the model file mapped in (the embedding
tables, shared through the page cache: service/backend/shared_tables.py). The workers'
`serve_memory_bytes{part,pid}` (service/memory.py) say where a worker's memory went while it
loaded: Python and libraries, the sessions, the tokenizers, the warm-up.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PARTS = ("python", "sessions", "tokenizer", "warm_up")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SAMPLE = re.compile(r"^serve_memory_bytes\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


@dataclass
class ProcessMemory:
    pid: int
    role: str
    """server (the parent), worker, or helper."""
    rss_mb: float
    pss_mb: float
    mapped_model_mb: float
    """Resident pages of mapped .onnx files (shared with the other workers)."""
    parts_mb: dict[str, float] = field(default_factory=dict)
    """A worker's loading parts, from its metrics."""


def _children(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier += kids.get(pid, [])
    return found


def _rollup(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1000  # kB -> MB
    return fields.get("Rss", 0.0), fields.get("Pss", 0.0)


def _mapped_model_mb(pid: int) -> float:
    total, in_model = 0.0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(None, 5)
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's first line
            in_model = len(head) == 6 and head[5].endswith(".onnx")
        elif in_model and line.startswith("Rss:"):
            total += int(line.split()[1]) / 1000
    return total


def _parts_by_pid(url: str) -> dict[int, dict[str, float]]:
    with _OPENER.open(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    parts: dict[int, dict[str, float]] = {}
    for match in _SAMPLE.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        pid = int(labels.get("pid", "0"))
        parts.setdefault(pid, {})[labels["part"]] = float(match["value"]) / 1e6
    return parts


def measure(root: int, url: str) -> list[ProcessMemory]:
    """Every process of the server started as `root`, now."""
    parts = _parts_by_pid(url)
    processes = []
    for pid in _children(root):
        try:
            rss, pss = _rollup(pid)
            mapped = _mapped_model_mb(pid)
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        role = "server" if pid == root else "worker" if pid in parts else "helper"
        if role == "server" and len(parts) == 1 and 0 in parts:  # one process serves
            parts = {pid: parts[0]}
            role = "server+worker"
        if b"resource_tracker" in command:
            role = "helper"
        processes.append(ProcessMemory(pid, role, rss, pss, mapped, parts.get(pid, {})))
    return processes


def summary(processes: list[ProcessMemory]) -> dict[str, Any]:
    return {
        "processes": [asdict(p) for p in processes],
        "total_rss_mb": sum(p.rss_mb for p in processes),
        "total_pss_mb": sum(p.pss_mb for p in processes),
    }


def print_memory(figures: dict[str, Any], when: str) -> None:
    print(
        f"\nresident memory {when}: total {figures['total_pss_mb']:.0f} MB (PSS: each page once, "
        f"what the container holds); {figures['total_rss_mb']:.0f} MB summing each process's "
        "RSS (pages shared by the workers counted in each)\n"
    )
    header = ["process", "RSS MB", "PSS MB", "model file mapped MB", *[f"{p} MB" for p in PARTS]]
    header.append("grown under load MB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for p in figures["processes"]:
        parts = p["parts_mb"]
        grown = p["rss_mb"] - sum(parts.values()) - p["mapped_model_mb"] if parts else None
        cells = [
            f"{p['role']} {p['pid']}",
            f"{p['rss_mb']:.0f}",
            f"{p['pss_mb']:.0f}",
            f"{p['mapped_model_mb']:.0f}",
            *[f"{parts[name]:.0f}" if name in parts else "-" for name in PARTS],
            f"{grown:.0f}" if grown is not None else "-",
        ]
        print("| " + " | ".join(cells) + " |")
