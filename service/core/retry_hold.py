"""Holding the refusal of a client that did not wait as told.

A shed request is answered 503 with `Retry-After`. A client that waits as told is answered at
once every time. One that sends again on the same connection before `Retry-After` has passed
(a naive retry loop: 512 of them resent about 8,000 requests a second at this server) has its
next refusal held for `Retry-After` before it goes out: the hold is a timer on the event loop,
with no CPU spent, so the loop's time goes to the requests it admits instead of to refusals.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

MAX_CLIENTS = 65536
"""Connections remembered; past it, those refused longer ago than their `Retry-After` go."""


class RetryHold:
    def __init__(self, max_clients: int = MAX_CLIENTS) -> None:
        self._refused_until: dict[Hashable, float] = {}
        """Per connection: until when its last refusal asked it to wait (monotonic)."""
        self._max_clients = max_clients

    def hold_s(self, client: Hashable | None, retry_after_s: float) -> float:
        """How long to hold a refusal with `retry_after_s` for `client` (a connection's
        address; None: unknown, never held), and remember when it may come back."""
        if client is None:
            return 0.0
        now = time.monotonic()
        until = self._refused_until.get(client)
        hold = retry_after_s if until is not None and now < until else 0.0
        if len(self._refused_until) >= self._max_clients:
            self._forget(now)
        self._refused_until[client] = now + hold + retry_after_s
        return hold

    def _forget(self, now: float) -> None:
        self._refused_until = {c: t for c, t in self._refused_until.items() if t > now}
        if len(self._refused_until) >= self._max_clients:  # all still waiting: start afresh
            self._refused_until.clear()
