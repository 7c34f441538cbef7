"""The multi-model memory budget and registry: what a model is estimated to cost follows what
loads measured, the budget counts every registered worker, and the registry is shared."""

from __future__ import annotations

from pathlib import Path

from service.models.budget import FIRST_RATIO, FIXED_MB, MemoryBudget
from service.models.registry import Entry, Registry


def test_estimate_follows_measured_loads(tmp_path: Path) -> None:
    budget = MemoryBudget(tmp_path, None, 0)
    assert budget.estimate_mb(10.0) == FIXED_MB + FIRST_RATIO * 10.0  # nothing measured yet
    budget.record(graph_mb=67.0, cost_mb=97.0)  # a real model: 30 MB + 1 MB per graph MB
    assert budget.estimate_mb(67.0) == FIXED_MB + 67.0
    budget.record(graph_mb=67.0, cost_mb=60.0)  # a cheaper load does not lower it
    assert budget.estimate_mb(67.0) == FIXED_MB + 67.0
    assert budget.estimate_mb(67.0, workers=2) == 2 * (FIXED_MB + 67.0)
    budget.record(graph_mb=0.5, cost_mb=40.0)  # a tiny graph: what a model costs beside it
    assert budget.learned()[0] > FIXED_MB
    # Another worker's budget on the same directory reads the same measurements.
    assert MemoryBudget(tmp_path, None, 0).learned() == budget.learned()


def test_room_counts_the_registered_workers(tmp_path: Path) -> None:
    budget = MemoryBudget(tmp_path, limit_mib=100_000, margin_mib=1_000)
    assert budget.limit_mb is not None and budget.limit_mb > 99_000 * 1.04
    alone = budget.used_mb()
    assert alone > 0
    (tmp_path / "pids" / "1").touch()  # init: a live process, counted as a worker
    assert budget.used_mb() > alone
    (tmp_path / "pids" / "999999999").touch()  # gone: not counted
    room = budget.room_mb()
    assert room is not None and room < budget.limit_mb
    assert MemoryBudget(tmp_path, None, 0).room_mb() is None


def test_registry_is_shared_and_refuses_duplicates(tmp_path: Path) -> None:
    one, two = Registry(tmp_path), Registry(tmp_path)
    assert one.add(Entry("a", "/models/a", 40.0))
    assert not two.add(Entry("a", "/models/other", 1.0))
    assert two.add(Entry("b", "/models/b", 41.0))
    assert list(one.entries()) == ["a", "b"] and one.get("a") == Entry("a", "/models/a", 40.0)
    assert two.remove("a") and not two.remove("a")
    assert list(one.entries()) == ["b"]
