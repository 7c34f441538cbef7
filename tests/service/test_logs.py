"""JSON logs carry the request id of the request being served."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from service.logs import configure, request_id

NAMES = ("service", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    saved = {
        n: (
            logging.getLogger(n).handlers[:],
            logging.getLogger(n).propagate,
            logging.getLogger(n).level,
            logging.getLogger(n).disabled,
        )
        for n in NAMES
    }
    yield
    for name, (handlers, propagate, level, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
        logger.setLevel(level)


def test_json_lines_with_request_id(
    capsys: pytest.CaptureFixture[str], restore_loggers: None
) -> None:
    configure("INFO", "json")
    token = request_id.set("abc123")
    try:
        logging.getLogger("service.api.routes").warning("400 bad_request: %s", "broken body")
    finally:
        request_id.reset(token)
    logging.getLogger("service.core.predictor").debug("not at INFO")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["request_id"] == "abc123" and entry["level"] == "WARNING"
    assert (
        entry["message"] == "400 bad_request: broken body"
        and entry["logger"] == "service.api.routes"
    )
    assert logging.getLogger("uvicorn.access").disabled
