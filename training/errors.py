"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations

USAGE_EXIT_CODE = 2
"""Bad input (path, column, encoding, malformed row, too few classes): the user must fix it."""

GATE_EXIT_CODE = 1
"""The run finished but the model is below --min-accuracy: artifact written, not deployable."""


class TrainingError(Exception):
    """A problem the user can fix; the message names the file or option and what is wrong."""

    exit_code = USAGE_EXIT_CODE


class DataError(TrainingError):
    """The training data cannot be read or is unusable."""


class ExportError(TrainingError):
    """An ONNX variant failed its parity check against PyTorch."""

    exit_code = GATE_EXIT_CODE
