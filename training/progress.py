"""Training progress that stays readable where stderr is not a terminal.

On a terminal: tqdm's live bar. Elsewhere (a SageMaker training job's CloudWatch log, CI, a
file): one plain line every `every_s` seconds and at the end, never a carriage-return redraw.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm.auto import tqdm


class Progress:
    def __init__(
        self,
        total: int,
        desc: str,
        *,
        enabled: bool = True,
        every_s: float = 30.0,
        stream: TextIO | None = None,
    ) -> None:
        self.total, self.desc, self.every_s = total, desc, every_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.count = 0
        self.fields: dict[str, Any] = {}
        self._started = self._last = time.monotonic()
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self._bar = (
            tqdm(total=total, desc=desc, unit="step", file=self.stream)
            if enabled and isatty
            else None
        )

    def update(self, **fields: Any) -> None:
        self.count += 1
        self.fields = fields
        if self._bar is not None:
            self._bar.set_postfix(**fields)
            self._bar.update()
        elif self.enabled and time.monotonic() - self._last >= self.every_s:
            self._line()

    def write(self, message: str) -> None:
        """A line of its own (an epoch summary), shown whether or not progress is."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.count:
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self._last = now
        share = f" ({self.count / self.total:.0%})" if self.total else ""
        extra = "".join(f", {k} {v}" for k, v in self.fields.items())
        print(
            f"{self.desc}: step {self.count}/{self.total}{share}{extra}, {now - self._started:.0f} s",
            file=self.stream,
            flush=True,
        )
