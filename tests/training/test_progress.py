"""Progress where stderr is not a terminal: plain lines, never carriage-return redraws."""

from __future__ import annotations

import io

from training.progress import Progress


def test_off_a_terminal_progress_is_a_plain_line_every_so_often() -> None:
    stream = io.StringIO()  # isatty() is False, like CloudWatch or CI
    progress = Progress(4, "fine-tuning", every_s=0.0, stream=stream)
    for step in range(4):
        progress.update(epoch=1, loss=f"{1.0 / (step + 1):.4f}")
    progress.write("epoch 1: val loss 0.5")
    progress.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("fine-tuning: step 1/4 (25%), epoch 1, loss 1.0000, ")
    assert lines[3].startswith("fine-tuning: step 4/4 (100%), epoch 1, loss 0.2500")
    assert lines[4] == "epoch 1: val loss 0.5"
    assert lines[5].startswith("fine-tuning: step 4/4"), "close() ends with a final line"


def test_lines_are_spaced_by_the_interval() -> None:
    stream = io.StringIO()
    progress = Progress(1000, "fine-tuning", every_s=3600.0, stream=stream)
    for _ in range(1000):
        progress.update(loss="0.1")
    assert stream.getvalue() == ""
    progress.close()
    assert stream.getvalue().count("\n") == 1


def test_disabled_progress_prints_only_what_is_written() -> None:
    stream = io.StringIO()
    progress = Progress(3, "fine-tuning", enabled=False, every_s=0.0, stream=stream)
    progress.update(loss="0.1")
    progress.write("epoch 1")
    progress.close()
    assert stream.getvalue() == "epoch 1\n"
