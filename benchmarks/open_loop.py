"""An open-loop load: requests sent at a fixed rate whatever the answers, as real traffic
arrives (a closed loop like wrk slows down with the server and never overloads it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from bench_common import percentiles

HELD_S = 0.9
"""A refusal this long inside the server was held (for Retry-After: 1 s)."""


@dataclass
class OverloadPoint:
    offered_rps: float
    texts_per_request: int
    sent: int
    ok: int
    shed: int
    """503 answers (with Retry-After)."""
    other_errors: int
    seconds: float
    goodput_texts_s: float
    p99_admitted_ms: float
    p99_shed_ms: float
    """Inside the server (its x-server-time header), of the refusals not held."""
    shed_with_retry_after: int
    shed_held: int = 0
    """Refusals the server held for Retry-After: the connection had come back sooner (the
    open loop sends whatever the answers; service/core/retry_hold.py)."""


async def _open_loop(
    url: str, bodies: Sequence[bytes], rate: float, seconds: float, texts: int
) -> OverloadPoint:
    limits = httpx.Limits(max_connections=4096, max_keepalive_connections=4096)
    ok_latency: list[float] = []
    shed_latency: list[float] = []
    counts = {"ok": 0, "shed": 0, "other": 0, "retry_after": 0, "held": 0}
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def one(body: bytes) -> None:
            started = time.perf_counter()
            try:
                reply = await client.post(f"{url}/invocations", content=body, headers=headers)
            except httpx.HTTPError:
                counts["other"] += 1
                return
            elapsed = time.perf_counter() - started
            if reply.status_code == 200:
                counts["ok"] += 1
                ok_latency.append(elapsed)
            elif reply.status_code == 503:
                counts["shed"] += 1
                counts["retry_after"] += "retry-after" in reply.headers
                in_server = float(reply.headers.get("x-server-time", "nan")) / 1000
                if in_server >= HELD_S:
                    counts["held"] += 1
                else:
                    shed_latency.append(in_server)
            else:
                counts["other"] += 1

        tasks = []
        began = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(bodies[i % len(bodies)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return OverloadPoint(
        offered_rps=rate,
        texts_per_request=texts,
        sent=total,
        ok=counts["ok"],
        shed=counts["shed"],
        other_errors=counts["other"],
        seconds=elapsed,
        goodput_texts_s=counts["ok"] * texts / elapsed,
        p99_admitted_ms=percentiles(ok_latency)["p99"],
        p99_shed_ms=percentiles(shed_latency)["p99"],
        shed_with_retry_after=counts["retry_after"],
        shed_held=counts["held"],
    )


def open_loop(
    url: str, bodies: Sequence[bytes], rate: float, seconds: float, texts: int
) -> OverloadPoint:
    return asyncio.run(_open_loop(url, bodies, rate, seconds, texts))
