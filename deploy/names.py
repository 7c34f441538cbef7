"""Derived, versioned resource names: a config or model is never reused in place."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

MAX_NAME = 63


def versioned(base: str, now: datetime | None = None) -> str:
    """`<base>-<UTC stamp>-<4 hex>`, at most 63 characters, unique per call."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    suffix = f"-{stamp}-{secrets.token_hex(2)}"
    head = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")[: MAX_NAME - len(suffix)].rstrip("-")
    return f"{head}{suffix}"


def belongs_to(name: str, base: str) -> bool:
    """True for names `versioned(base)` made (and so `delete` may remove)."""
    return re.fullmatch(re.escape(base) + r"-\d{8}-\d{6}-[0-9a-f]{4}", name) is not None
