"""Poll a SageMaker resource until it leaves its transient states, showing progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from deploy.errors import DeployError


class WaitTimeout(DeployError):
    """The resource was still changing when the time ran out."""

    def __init__(self, message: str, last: dict[str, Any]) -> None:
        super().__init__(message)
        self.last = last


@dataclass(frozen=True)
class Poll:
    interval_s: float = 15.0
    timeout_s: float = 1800.0


def wait_until_settled(
    describe: Callable[[], dict[str, Any]],
    status_key: str,
    transient: frozenset[str],
    what: str,
    poll: Poll,
    console: Console,
) -> dict[str, Any]:
    """Describe until the status is not transient; return the last description."""
    start = time.monotonic()
    last_status = None
    with console.status(f"{what}: waiting", spinner="dots") as spinner:
        while True:
            described = describe()
            status = str(described[status_key])
            elapsed = time.monotonic() - start
            if status != last_status:
                console.print(f"  {what}: {status} [dim]({elapsed:.0f} s)[/dim]")
                last_status = status
            if status not in transient:
                return described
            if elapsed >= poll.timeout_s:
                raise WaitTimeout(
                    f"{what} is still {status} after {poll.timeout_s:.0f} s "
                    "(raise --timeout, or follow it with `python -m deploy status`)",
                    described,
                )
            spinner.update(f"{what}: {status} for {elapsed:.0f} s")
            time.sleep(poll.interval_s)
