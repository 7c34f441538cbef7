"""The PromQL the CLI writes over the server's own metrics (`/metrics`), in one place.

Detailed observability scrapes the container's Prometheus endpoint and sends the series to
CloudWatch as OpenTelemetry metrics, labelled with the endpoint and variant they came from
(SageMaker: "Getting started with detailed observability"); CloudWatch answers PromQL over them
(CloudWatch: "PromQL querying", Prometheus 3 syntax, where a label name with dots is quoted:
`{"serve_rejects_total", "aws.sagemaker.endpoint.name"="e"}`). The alarms, the dashboard and
the reports all take their expressions from here, and tests/observability evaluates each one
on a real Prometheus scraping a real server.

`Labels` says how the two labels are spelled. CloudWatch keeps OpenTelemetry's dotted names;
a Prometheus 2 (Debian 12 ships 2.42) accepts only `[a-zA-Z_][a-zA-Z0-9_]*`, so the test
relabels to underscores and renders the same expressions unquoted: only the quoting differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENDPOINT_LABEL = "aws.sagemaker.endpoint.name"
VARIANT_LABEL = "aws.sagemaker.variant.name"
_LEGACY_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Counters the server exports (service/metrics.py); a shed request counts as a reject.
REJECTS = "serve_rejects_total"
FAILED_BATCHES = "serve_failed_batches_total"
REQUESTS = "serve_requests_total"
PREDICTIONS = "serve_predictions_total"
QUEUE = "serve_queue_texts"


@dataclass(frozen=True)
class Labels:
    endpoint: str = ENDPOINT_LABEL
    variant: str = VARIANT_LABEL
    quoted: bool = True  # Prometheus 3 / CloudWatch syntax

    def selector(self, metric: str, endpoint: str, variant: str) -> str:
        """The series of `metric` from one variant of one endpoint."""
        matchers = [(self.endpoint, endpoint), (self.variant, variant)]
        if self.quoted:
            inner = ", ".join([f'"{metric}"'] + [f'"{k}"="{_escape(v)}"' for k, v in matchers])
            return "{" + inner + "}"
        for name in (self.endpoint, self.variant):
            if not _LEGACY_NAME.match(name):
                raise ValueError(f"label {name!r} needs the quoted (Prometheus 3) syntax")
        inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in matchers)
        return f"{metric}{{{inner}}}"


SAGEMAKER = Labels()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _increase(labels: Labels, metric: str, endpoint: str, variant: str, window: str) -> str:
    """Total increase over the window across the variant's instances and workers; 0 when the
    counter has no series yet (a server that never rejected has not exported the label set)."""
    return f"(sum(increase({labels.selector(metric, endpoint, variant)}[{window}])) or vector(0))"


def server_failures(endpoint: str, variant: str, window: str = "1m",
                    labels: Labels = SAGEMAKER) -> str:  # fmt: skip
    """Texts rejected (shed, too large, timed out) plus batches that failed, in the window."""
    return (
        f"{_increase(labels, REJECTS, endpoint, variant, window)} + "
        f"{_increase(labels, FAILED_BATCHES, endpoint, variant, window)}"
    )


def server_failures_alarm(endpoint: str, variant: str, threshold: float,
                          labels: Labels = SAGEMAKER) -> str:  # fmt: skip
    """A PromQL alarm's query: a vector that has an entry (a contributor) only while breaching."""
    return f"{server_failures(endpoint, variant, '1m', labels)} > {threshold:g}"


def request_rate(endpoint: str, variant: str, window: str = "1m",
                 labels: Labels = SAGEMAKER) -> str:  # fmt: skip
    """Requests a second, by HTTP status."""
    return f"sum by (status) (rate({labels.selector(REQUESTS, endpoint, variant)}[{window}]))"


def latency_quantile(quantile: float, endpoint: str, variant: str, window: str = "1m",
                     labels: Labels = SAGEMAKER) -> str:  # fmt: skip
    """Request seconds at `quantile`, from the histogram's buckets across the variant."""
    buckets = labels.selector("serve_request_seconds_bucket", endpoint, variant)
    return f"histogram_quantile({quantile:g}, sum by (le) (rate({buckets}[{window}])))"


def queue_texts(endpoint: str, variant: str, labels: Labels = SAGEMAKER) -> str:
    """Texts waiting, summed over the variant's instances."""
    return f"sum({labels.selector(QUEUE, endpoint, variant)})"


def predictions_by_label(endpoint: str, variant: str, window: str,
                         labels: Labels = SAGEMAKER) -> str:  # fmt: skip
    """Predictions per label over the window (the shadow report's label counts)."""
    return f"sum by (label) (increase({labels.selector(PREDICTIONS, endpoint, variant)}[{window}]))"
