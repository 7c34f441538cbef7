"""Derived, versioned resource names: a config or model is never reused in place."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

MAX_NAME = 63
SUFFIX_LENGTH = len("-20260101-000000-abcd")


def head(base: str) -> str:
    """The part of `base` that fits before the version suffix."""
    cleaned = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")
    return cleaned[: MAX_NAME - SUFFIX_LENGTH].rstrip("-")


_issued: set[str] = set()


def versioned(base: str, now: datetime | None = None) -> str:
    """`<base>-<UTC stamp>-<4 hex>`, at most 63 characters, unique per call in this process
    (4 random hex digits alone collide within a second about once in 50 calls)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    while True:
        name = f"{head(base)}-{stamp}-{secrets.token_hex(2)}"
        if name not in _issued:
            _issued.add(name)
            return name


def belongs_to(name: str, base: str) -> bool:
    """True for names `versioned(base)` made (and so `delete` may remove)."""
    return re.fullmatch(re.escape(head(base)) + r"-\d{8}-\d{6}-[0-9a-f]{4}", name) is not None
