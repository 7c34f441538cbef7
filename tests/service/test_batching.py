"""The batching core against a fake slow model: ordering, budgets, deadlines, shedding,
failure isolation and batcher death. No web framework, no ONNX."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.api.errors import status_of
from service.backend.plan import BatchLimits
from service.core.batcher import Batcher
from service.core.errors import InferenceFailed, NotReady, Overloaded
from service.core.length_queue import LengthQueue, Pending, bucket_lengths, group_lengths

POISON = 666


class SlowModel:
    """Returns [first token id, real length] per row, after `delay` seconds; fails on POISON.

    Clear `release` to hold the next batch inside the model; `await held()` returns once a
    batch is there (taken off the queue), so tests synchronise on events, not on sleeps.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.shapes: list[tuple[int, int]] = []
        self.seen: list[int] = []
        self.threads: set[str] = set()
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        self.release.wait(5)
        time.sleep(self.delay)
        self.shapes.append(ids.shape)
        self.seen.extend(ids[:, 0].tolist())
        if (ids[:, 0] == POISON).any():
            raise RuntimeError("poisoned batch")
        return np.stack([ids[:, 0], mask.sum(axis=1)], axis=1).astype(np.float32)

    async def held(self) -> None:
        """Wait (off the event loop) until a batch has reached the model."""
        assert await asyncio.to_thread(self.entered.wait, 5), "no batch reached the model"


MakeBatcher = Callable[..., Batcher]


def text(tag: int, length: int) -> list[int]:
    return [tag] + [7] * (length - 1)


@pytest.fixture
async def make_batcher() -> AsyncIterator[MakeBatcher]:
    made: list[Batcher] = []
    pool = ThreadPoolExecutor(1, thread_name_prefix="inference")

    def make(model: SlowModel, **limits: object) -> Batcher:
        settings: dict[str, object] = {"max_batch_tokens": 256, "max_batch_size": 8}
        settings.update(limits)
        batcher = Batcher(model, pool, BatchLimits(**settings), max_length=64, labels=2)  # type: ignore[arg-type]
        batcher.start()
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        await batcher.stop(5)
    pool.shutdown()


def test_buckets_are_finite_and_end_at_max_length() -> None:
    assert bucket_lengths(32) == [8, 16, 24, 32]
    lengths = bucket_lengths(512)
    assert lengths[:8] == [8, 16, 24, 32, 40, 48, 56, 64] and lengths[-1] == 512
    assert lengths == sorted(set(lengths))


def test_groups_are_narrow_where_texts_are_short_and_end_at_max_length() -> None:
    assert group_lengths(12) == [2, 4, 6, 8, 10, 12]
    lengths = group_lengths(512)
    assert lengths[:3] == [2, 4, 6] and 64 in lengths and 68 in lengths and lengths[-1] == 512
    assert lengths == sorted(set(lengths)) and len(lengths) < 80


async def test_a_batch_is_filled_with_the_nearest_lengths_below_the_oldest_text() -> None:
    queue = LengthQueue(max_length=64, max_batch_tokens=1024, max_batch_size=4)
    future = asyncio.get_running_loop().create_future()
    # The oldest text has 16 tokens; 9, 10, 12, 15 and 16 wait; 7 is under half its length.
    for length in (16, 9, 7, 12, 15, 10, 16):
        queue.put(Pending(future, 1, 2), [text(length, length)])
    assert sorted(t.length for t in queue.take()) == [12, 15, 16, 16]
    assert sorted(t.length for t in queue.take()) == [7, 9, 10]


async def test_a_slightly_longer_text_joins_a_batch_but_not_a_much_longer_one() -> None:
    queue = LengthQueue(max_length=64, max_batch_tokens=1024, max_batch_size=8)
    future = asyncio.get_running_loop().create_future()
    for length in (20, 23, 32):  # the oldest has 20 tokens; 23 is near, 32 too long for it
        queue.put(Pending(future, 1, 2), [text(length, length)])
    assert sorted(t.length for t in queue.take()) == [20, 23]
    assert [t.length for t in queue.take()] == [32]


async def test_results_come_back_in_input_order_across_buckets(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model)
    lengths = [40, 3, 17, 64, 5, 33]
    pending = batcher.submit([text(i, n) for i, n in enumerate(lengths)])
    probs = await asyncio.wait_for(pending.future, 5)
    assert probs[:, 0].tolist() == list(range(len(lengths)))
    assert probs[:, 1].tolist() == lengths
    assert len(model.shapes) > 1, "very different lengths should not share one padded batch"


async def test_concurrent_requests_share_batches_within_the_token_budget(
    make_batcher: MakeBatcher,
) -> None:
    model = SlowModel(delay=0.02)
    batcher = make_batcher(model, max_batch_tokens=64, max_batch_size=8)
    model.release.clear()  # hold the first batch so the rest queue up behind it
    first = batcher.submit([text(0, 8)])
    await model.held()
    rest = [batcher.submit([text(i, 8)]) for i in range(1, 21)]
    model.release.set()
    await asyncio.wait_for(asyncio.gather(first.future, *(p.future for p in rest)), 5)
    assert max(b for b, _ in model.shapes) == 8, "8 texts × 8 tokens fill the 64-token budget"
    assert all(b * s <= 64 for b, s in model.shapes)
    assert sorted(model.seen) == list(range(21))
    assert model.threads == {"inference_0"}, "inference runs on the one dedicated thread"


async def test_short_texts_are_not_padded_to_a_long_neighbour(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model)
    model.release.clear()
    blocker = batcher.submit([text(99, 8)])
    await model.held()
    short = batcher.submit([text(1, 7), text(2, 8)])
    long = batcher.submit([text(3, 60), text(4, 58)])
    model.release.set()
    await asyncio.wait_for(asyncio.gather(blocker.future, short.future, long.future), 5)
    assert sorted(model.shapes[1:]) == [(2, 8), (2, 60)]


async def test_max_wait_lets_a_second_request_join_the_batch(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model, max_wait_s=0.2)
    a = batcher.submit([text(1, 8)])
    # Timing is the subject here: the second request arrives 20 ms after the first, well
    # inside the 200 ms the batcher holds an under-full batch for company.
    await asyncio.sleep(0.02)
    b = batcher.submit([text(2, 8)])
    await asyncio.wait_for(asyncio.gather(a.future, b.future), 5)
    assert model.shapes == [(2, 8)]


async def test_a_request_past_its_deadline_never_reaches_the_model(
    make_batcher: MakeBatcher,
) -> None:
    model = SlowModel()
    batcher = make_batcher(model)
    model.release.clear()
    blocker = batcher.submit([text(1, 8)])
    await model.held()
    late = batcher.submit([text(2, 8)])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(late.future, 0.05)
    model.release.set()
    await asyncio.wait_for(blocker.future, 5)
    after = batcher.submit([text(3, 8)])
    await asyncio.wait_for(after.future, 5)
    assert 2 not in model.seen and model.seen == [1, 3]
    assert batcher.queued_texts == 0


async def test_a_full_queue_sheds_new_requests_at_once(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model, max_queue_texts=4)
    model.release.clear()
    running = batcher.submit([text(0, 8)])
    await model.held()
    queued = batcher.submit([text(i, 8) for i in range(1, 5)])
    with pytest.raises(Overloaded) as shed:
        batcher.submit([text(9, 8)])
    assert status_of(shed.value) == (503, "overloaded") and shed.value.retry_after_s
    model.release.set()
    await asyncio.wait_for(asyncio.gather(running.future, queued.future), 5)


async def test_a_failing_batch_fails_only_its_requests(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model)
    model.release.clear()
    blocker = batcher.submit([text(1, 8)])
    await model.held()
    poisoned = batcher.submit([text(POISON, 8)])
    healthy = batcher.submit([text(2, 40)])  # another bucket: another batch
    model.release.set()
    await asyncio.wait_for(blocker.future, 5)
    with pytest.raises(InferenceFailed):
        await asyncio.wait_for(poisoned.future, 5)
    assert (await asyncio.wait_for(healthy.future, 5))[0, 0] == 2
    assert batcher.healthy
    again = batcher.submit([text(3, 8)])
    assert (await asyncio.wait_for(again.future, 5))[0, 0] == 3


async def test_when_the_batcher_dies_every_waiter_gets_an_error(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model)
    model.release.clear()
    running = batcher.submit([text(1, 8)])
    await model.held()
    waiting = [batcher.submit([text(i, 8)]) for i in range(2, 5)]

    def explode() -> list[object]:
        raise RuntimeError("bug in batch formation")

    batcher._take = explode  # type: ignore[method-assign,assignment]
    model.release.set()
    await asyncio.wait_for(running.future, 5)
    for pending in waiting:
        with pytest.raises(NotReady):
            await asyncio.wait_for(pending.future, 5)
    assert not batcher.healthy
    with pytest.raises(NotReady):
        batcher.submit([text(5, 8)])


async def test_stop_finishes_queued_work_then_refuses_more(make_batcher: MakeBatcher) -> None:
    model = SlowModel(delay=0.01)
    batcher = make_batcher(model, max_batch_size=2)
    pendings = [batcher.submit([text(i, 8)]) for i in range(10)]
    await batcher.stop(5)
    assert all(p.future.done() and not p.future.exception() for p in pendings)
    assert sorted(model.seen) == list(range(10))
    with pytest.raises(NotReady, match="draining"):
        batcher.submit([text(11, 8)])


async def test_requests_that_would_wait_past_the_limit_are_shed_early(
    make_batcher: MakeBatcher,
) -> None:
    model = SlowModel(delay=0.05)  # at most 20 texts/s, one text per batch
    batcher = make_batcher(model, max_batch_size=1, max_queue_wait_s=1.0)
    first = batcher.submit([text(0, 8)])
    await asyncio.wait_for(first.future, 5)  # one batch teaches the batcher the model's speed
    queued = batcher.submit([text(i, 8) for i in range(1, 3)])  # ~0.1 s of work: admitted
    with pytest.raises(Overloaded, match="queued"):
        batcher.submit([text(i, 8) for i in range(3, 43)])  # >= 2 s of work: shed at once
    assert batcher.expected_wait_s() > 0
    await asyncio.wait_for(queued.future, 5)
    assert 3 not in model.seen


async def test_a_request_let_in_on_arrival_is_not_shed_for_the_queue_that_grew_meanwhile(
    make_batcher: MakeBatcher,
) -> None:
    model = SlowModel(delay=0.05)  # at most 20 texts/s, one text per batch
    batcher = make_batcher(model, max_batch_size=1, max_wait_ahead_s=0.5)
    first = batcher.submit([text(0, 8)])
    await asyncio.wait_for(first.future, 5)  # one batch teaches the batcher the model's speed
    batcher.admit(0)  # a request arrives: the queue is empty, it is let in
    # While its body comes in, others queue ~1 s of work.
    backlog = batcher.submit([text(i, 8) for i in range(1, 21)])
    with pytest.raises(Overloaded, match="queued ahead"):
        batcher.admit(0)  # a request arriving now is shed before its body is read
    late = batcher.submit([text(99, 8)], arrival_admitted=True)  # the one let in is served
    await asyncio.wait_for(asyncio.gather(backlog.future, late.future), 10)
    assert 99 in model.seen


async def test_a_lone_request_runs_at_once_on_the_loop_thread(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model, run_lone_inline=True)
    pending = batcher.submit([text(1, 5), text(2, 9)])
    probs = await asyncio.wait_for(pending.future, 5)
    assert probs[:, 1].tolist() == [5, 9]
    assert model.threads == {threading.current_thread().name}, "no hop to the inference thread"
    assert model.shapes == [(2, 9)]


async def test_requests_arriving_in_the_same_loop_turn_are_batched_not_run_alone(
    make_batcher: MakeBatcher,
) -> None:
    model = SlowModel()
    batcher = make_batcher(model, run_lone_inline=True)
    await asyncio.sleep(0)  # the batcher's loop starts and waits for work, as in a server
    # As when one poll of the sockets reads several requests: all submitted in one turn.
    pending = [batcher.submit([text(i, 8)]) for i in range(5)]
    await asyncio.wait_for(asyncio.gather(*(p.future for p in pending)), 5)
    assert model.shapes == [(5, 8)], "the five share one batch"
    assert model.threads == {"inference_0"}


async def test_run_alone_only_what_fits_one_batch(make_batcher: MakeBatcher) -> None:
    model = SlowModel()
    batcher = make_batcher(model, run_lone_inline=True, max_batch_size=2)
    pending = batcher.submit([text(i, 8) for i in range(3)])
    await asyncio.wait_for(pending.future, 5)
    assert sorted(b for b, _ in model.shapes) == [1, 2] and model.threads == {"inference_0"}


async def test_a_failing_lone_request_fails_alone_and_the_batcher_lives(
    make_batcher: MakeBatcher,
) -> None:
    model = SlowModel()
    batcher = make_batcher(model, run_lone_inline=True)
    poisoned = batcher.submit([text(POISON, 4)])
    with pytest.raises(InferenceFailed):
        await asyncio.wait_for(poisoned.future, 5)
    assert batcher.healthy
    fine = batcher.submit([text(3, 4)])
    assert (await asyncio.wait_for(fine.future, 5))[0, 0] == 3
