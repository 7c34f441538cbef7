"""A lone request gets every core; under load each worker keeps its share.

Workers share which of them runs a batch (service/busy_signal.py); a batch that finds every
other worker idle runs on a session with all the cores."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from service.backend.device import CPU
from service.backend.plan import decide_plan, plan_for
from service.backend.probe import HostProbe
from service.backend.session import OnnxBackend
from service.busy_signal import BusySignal
from service.settings import Settings

FOUR_CORES = HostProbe(usable_cores=4, providers=(CPU,))


def test_the_plan_gives_a_lone_batch_every_core_only_with_several_cpu_workers() -> None:
    several = decide_plan(Settings(), FOUR_CORES, None)
    assert (several.workers, several.intra_op_threads, several.lone_request_threads) == (4, 1, 4)
    assert "(4 when the other workers are idle)" in several.describe()
    assert decide_plan(Settings(lone_request_threads=1), FOUR_CORES, None).lone_request_threads == 1
    assert decide_plan(Settings(lone_request_threads=2), FOUR_CORES, None).lone_request_threads == 2
    one = decide_plan(Settings(workers=1), FOUR_CORES, None)
    assert one.lone_request_threads == one.intra_op_threads == 4
    spinning = decide_plan(Settings(spin_wait=True), FOUR_CORES, None)
    assert spinning.lone_request_threads == spinning.intra_op_threads


def _own(signal: BusySignal, slot: int, pid: int, busy: bool = False, ended: float = 0.0) -> None:
    signal._write(slot, busy, ended, pid)


def test_busy_signal_sees_other_workers_and_reclaims_a_dead_ones_slot(tmp_path: Path) -> None:
    path = BusySignal.create(tmp_path / "busy", 4)
    mine = BusySignal(path, 4, quiet_s=0.2).claim()
    assert mine.slot == 0 and not mine.others_busy()
    sleepers = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)
    ]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        theirs = BusySignal(path, 4)
        _own(theirs, 1, sleepers[0].pid, busy=True, ended=time.monotonic())
        assert mine.others_busy()
        mine.set_busy(True)
        _own(theirs, 1, sleepers[0].pid, busy=False, ended=time.monotonic())
        assert mine.others_busy()  # it ended a batch a moment ago: not quiet yet
        _own(theirs, 1, sleepers[0].pid, busy=False, ended=time.monotonic() - 1.0)
        assert not mine.others_busy()  # quiet for long enough; its own flag does not count
        # Slots 0, 1, 3 held by live processes, slot 2 by one that died: a new worker gets 2.
        _own(theirs, 0, sleepers[1].pid)
        _own(theirs, 2, dead.pid)
        _own(theirs, 3, sleepers[2].pid)
        assert BusySignal(path, 4).claim().slot == 2
        with pytest.raises(RuntimeError, match="slots is taken"):
            _own(theirs, 2, sleepers[0].pid)
            BusySignal(path, 4).claim()
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


class FakeBusy:
    def __init__(self, others: bool) -> None:
        self.others = others
        self.flags: list[bool] = []

    def set_busy(self, busy: bool) -> None:
        self.flags.append(busy)

    def others_busy(self) -> bool:
        return self.others


@pytest.mark.parametrize("others", [False, True])
def test_a_batch_runs_on_every_core_only_when_the_others_are_idle(
    tiny_artifact: Path, others: bool
) -> None:
    plan = replace(
        plan_for(Settings(model_dir=tiny_artifact, device="cpu"), single_process=True),
        workers=2,
        intra_op_threads=1,
        lone_request_threads=2,
    )
    busy = FakeBusy(others)
    backend = OnnxBackend(tiny_artifact, plan, busy=busy)
    used: list[object] = []
    run_on = backend._run_on

    def spy(
        session: object, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None = None
    ) -> np.ndarray:
        used.append(session)
        return run_on(session, ids, mask, types)

    backend._run_on = spy  # type: ignore[method-assign,assignment]
    ids = np.array([[2, 100, 3]], dtype=np.int64)
    scores = backend.run(ids, np.ones_like(ids))
    assert scores.shape == (1, len(backend.labels))
    assert used == [backend._session if others else backend._lone]
    assert backend._lone is not None and backend._lone is not backend._session
    assert busy.flags == [True, False]  # marked busy for exactly the run


def test_pool_threads_stop_spinning_when_a_run_ends_unless_a_benchmark_asks() -> None:
    """Spinning after a run would take a core from the HTTP work between requests."""
    from service.backend.session import _session_options

    entry = "session.force_spinning_stop"
    assert _session_options(2, spin_wait=True).get_session_config_entry(entry) == "1"
    kept = _session_options(2, spin_wait=True, spin_between_runs=True)
    with pytest.raises(Exception, match="not"):  # ONNX Runtime: no such entry set
        kept.get_session_config_entry(entry)
