"""Retrying a shed request: 503 (and 429) again after `Retry-After` when the server gives one,
else after an exponential backoff with jitter, within a budget of attempts and of seconds."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    """Tries in all, the first included."""
    budget_s: float = 30.0
    """Seconds one call may spend waiting between tries, in all."""
    backoff_s: float = 0.1
    """The first wait when the server names none; doubled each try, with jitter."""
    max_backoff_s: float = 5.0
    retry_after_jitter: float = 0.5
    """A `Retry-After` wait is lengthened by up to this share, at random."""


class RetryBudget:
    """One call's retries: `delay` says how long to wait before the next try, or None."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._tries = 1
        self._deadline = time.monotonic() + policy.budget_s
        self.waited_s = 0.0

    def delay(self, status: int, retry_after: str | None) -> float | None:
        policy = self._policy
        if status not in RETRY_STATUSES or self._tries >= policy.attempts:
            return None
        wait = _seconds(retry_after)
        if wait is None:
            wait = min(policy.max_backoff_s, policy.backoff_s * 2 ** (self._tries - 1))
            wait *= random.uniform(0.5, 1.0)
        else:  # at least what the server asks; spread out, or every client shed comes back at once
            wait *= random.uniform(1.0, 1.0 + policy.retry_after_jitter)
        if time.monotonic() + wait > self._deadline:
            return None
        self._tries += 1
        self.waited_s += wait
        return wait


def _seconds(retry_after: str | None) -> float | None:
    """`Retry-After` in seconds (the HTTP-date form is not used by the server)."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return None
