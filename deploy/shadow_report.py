"""The shadow test's verdict: candidate beside production on latency, errors and labels.

Latency and errors come from SageMaker's per-variant metrics, the label distribution from the
server's `serve_predictions_total{label}` (detailed observability), and label agreement from
data capture, pairing each request's two answers (see `deploy.capture`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from deploy import capture
from deploy.aws import Aws
from deploy.errors import ConfigError
from deploy.variant_metrics import VariantNumbers, Window, label_counts, variant_numbers
from deploy.variants import Layout


@dataclass(frozen=True)
class ShadowReport:
    endpoint: str
    production: str
    candidate: str
    window: Window
    numbers: dict[str, VariantNumbers]
    labels: dict[str, dict[str, float]]  # variant -> label -> predictions
    agreement: capture.Agreement | None  # None: data capture is off

    def label_shares(self, variant: str) -> dict[str, float]:
        counts = self.labels[variant]
        total = sum(counts.values())
        return {label: 100 * n / total for label, n in counts.items()} if total else {}

    @property
    def all_labels(self) -> list[str]:
        return sorted({label for counts in self.labels.values() for label in counts})

    @property
    def distribution_shift(self) -> float | None:
        """Total variation distance between the two label distributions, in percentage points."""
        ours, theirs = self.label_shares(self.production), self.label_shares(self.candidate)
        if not ours or not theirs:
            return None
        return sum(abs(ours.get(x, 0.0) - theirs.get(x, 0.0)) for x in self.all_labels) / 2


def gather(
    aws: Aws, layout: Layout, production: str, candidate: str, window: Window
) -> ShadowReport:
    endpoint = str(layout.endpoint["EndpointName"])
    numbers = variant_numbers(aws, endpoint, [production, candidate], window)
    labels = {v: label_counts(aws, endpoint, v, window) for v in (production, candidate)}
    agreement = None
    destination = (layout.config.get("DataCaptureConfig") or {}).get("DestinationS3Uri")
    if destination and layout.config["DataCaptureConfig"].get("EnableCapture", True):
        captured = [
            capture.records(aws, destination, endpoint, v, window.start, window.end)
            for v in (production, candidate)
        ]
        agreement = capture.compare(*captured)
    return ShadowReport(endpoint, production, candidate, window, numbers, labels, agreement)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def tables(report: ShadowReport) -> list[Table]:
    pair = (report.production, report.candidate)
    heading = [f"production ({report.production})", f"candidate ({report.candidate})"]
    serving = Table(
        "last " + f"{report.window.minutes} min",
        *heading,
        title=f"shadow test on {report.endpoint}",
    )
    rows: list[tuple[str, Callable[[VariantNumbers], str]]] = [
        ("invocations", lambda n: f"{n.invocations:.0f}"),
        ("4xx / 5xx", lambda n: f"{n.errors_4xx:.0f} / {n.errors_5xx:.0f}"),
        ("error rate", lambda n: _percent(n.error_percent)),
        ("ModelLatency p50 ms", lambda n: _ms(n.p50_ms)),
        ("ModelLatency p99 ms", lambda n: _ms(n.p99_ms)),
    ]
    for title, cell in rows:
        serving.add_row(title, *(cell(report.numbers[v]) for v in pair))
    labels = Table("predicted label", *heading, "shift (points)", title="label distribution")
    shares = {v: report.label_shares(v) for v in pair}
    for label in report.all_labels:
        ours, theirs = (shares[v].get(label, 0.0) for v in pair)
        counts = (report.labels[v].get(label, 0.0) for v in pair)
        labels.add_row(
            label, *(f"{n:.0f} ({s:.1f}%)" for n, s in zip(counts, (ours, theirs), strict=True)),
            f"{theirs - ours:+.1f}",
        )  # fmt: skip
    shift = report.distribution_shift
    labels.caption = (
        "no predictions per label in CloudWatch (detailed observability off, or no traffic)"
        if shift is None
        else f"total variation distance: {shift:.1f} points"
    )
    agreement = Table("label agreement", "value", title="paired answers (data capture)")
    found = report.agreement
    if found is None:
        agreement.add_row("data capture", "off: deploy with --capture-percent to compare answers")
    else:
        agreement.add_row("requests answered by both", str(found.paired))
        agreement.add_row("texts compared", str(found.texts))
        agreement.add_row("same top label", _percent(found.percent))
        if found.unreadable:
            agreement.add_row("unreadable captures", str(found.unreadable))
        for (before, after), count in found.changes.most_common(5):
            agreement.add_row(f"{before} -> {after}", str(count))
    return [serving, labels, agreement]


def plot(report: ShadowReport, path: Path) -> Path:
    """Bar chart of the two label distributions (needs matplotlib: the load or train extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib (pip install -e '.[load]')") from None
    labels = report.all_labels
    figure, axis = plt.subplots(figsize=(max(6.0, len(labels) * 1.2), 4))
    width = 0.4
    for offset, variant, role in ((-width / 2, report.production, "production"),
                                  (width / 2, report.candidate, "candidate")):  # fmt: skip
        shares = report.label_shares(variant)
        axis.bar([i + offset for i in range(len(labels))], [shares.get(x, 0.0) for x in labels],
                 width, label=f"{role} ({variant})")  # fmt: skip
    axis.set_xticks(range(len(labels)), labels)
    axis.set_ylabel("% of predictions")
    axis.set_title(f"{report.endpoint}: predicted labels, last {report.window.minutes} min")
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
