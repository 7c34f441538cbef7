"""Logging for the training CLIs: our messages, not the libraries' chatter."""

from __future__ import annotations

import logging


class _DropRootChatter(logging.Filter):
    """ONNX Runtime's quantizer logs advice on the root logger; our code uses named loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root" or record.levelno >= logging.ERROR


def quiet_libraries(level: int = logging.WARNING) -> None:
    from transformers.utils import logging as hf_logging

    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropRootChatter())
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    # optimum has its own logging tree; its accelerate hint is about tied LM heads we lack.
    from optimum.utils import logging as optimum_logging

    optimum_logging.set_verbosity_error()
    for name in ("optimum", "onnx_model", "fusion_utils", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.ERROR)
