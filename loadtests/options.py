"""Our command-line options for Locust, and the typed settings built from them.

Locust reads them from the command line, `LOCUST_*` environment variables or a `locust.conf`
file (`slo-p99-ms = 100`). `add_arguments` works on any argparse parser so it is testable
without Locust.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.dataset import DEFAULT_TEXT_COLUMN
from loadtests.model_mix import DEFAULT_PREFIX as DEFAULT_MODEL_PREFIX
from loadtests.model_mix import ModelMix
from loadtests.shapes import SHAPE_KINDS, ShapePlan, parse_seconds
from loadtests.slo import SloTargets
from loadtests.traffic import DEFAULT_MIX, RequestKind, TrafficError, parse_mix


def add_arguments(parser: Any) -> None:
    """Every option of ours: traffic, load shape, SLO gate and reports, SageMaker endpoint."""
    add_traffic_arguments(parser)
    _add_run_arguments(parser)


def add_traffic_arguments(parser: Any) -> None:
    """What the simulated users send (shared with the capacity search)."""
    traffic = parser.add_argument_group("traffic (headline-serve)")
    traffic.add_argument(
        "--dataset", default=None, help="CSV file of texts to send (default: the bundled sample)"
    )
    traffic.add_argument(
        "--text-column", default=DEFAULT_TEXT_COLUMN, help="Column of --dataset holding the text"
    )
    traffic.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help="Request kinds and weights, e.g. json_single=6,json_batch=3,csv_batch=1",
    )
    traffic.add_argument("--batch-min", type=int, default=2, help="Fewest texts in a batch request")
    traffic.add_argument("--batch-max", type=int, default=8, help="Most texts in a batch request")
    traffic.add_argument(
        "--labels", default="", help="Comma-separated labels a prediction may carry (default: any)"
    )
    traffic.add_argument(
        "--think-time", type=float, default=0.0, help="Seconds each user waits between requests"
    )
    traffic.add_argument(
        "--seed", type=int, default=None, help="Seed for the text and request-kind draws"
    )
    traffic.add_argument(
        "--models",
        type=int,
        default=0,
        help="Multi-model: name one of N models per request (0: a single-model endpoint)",
    )
    traffic.add_argument(
        "--model-zipf",
        type=float,
        default=1.0,
        help="Multi-model: Zipf exponent of the model draw (0 uniform, 1 Zipf, more: more skewed)",
    )
    traffic.add_argument(
        "--model-prefix",
        default=DEFAULT_MODEL_PREFIX,
        help="Multi-model: models are named PREFIX-00, PREFIX-01, ... (TargetModel NAME.tar.gz)",
    )


def _add_run_arguments(parser: Any) -> None:
    shape = parser.add_argument_group("load shape (headline-serve); -u, -r and -t apply too")
    shape.add_argument(
        "--shape",
        choices=SHAPE_KINDS,
        default="constant",
        help="constant: -u users; step: ramp to -u users in --steps; spike: -u users, --spike-users for a while",
    )
    shape.add_argument(
        "--steps", type=int, default=5, help="Step shape: number of equal steps up to -u users"
    )
    shape.add_argument(
        "--step-duration", default="10s", help="Step shape: how long each step lasts"
    )
    shape.add_argument(
        "--spike-users", type=int, default=0, help="Spike shape: users during the spike"
    )
    shape.add_argument("--spike-at", default="10s", help="Spike shape: when the spike starts")
    shape.add_argument("--spike-duration", default="10s", help="Spike shape: how long it lasts")

    gate = parser.add_argument_group("SLO gate and reports (headline-serve)")
    gate.add_argument(
        "--slo-p95-ms", type=float, default=None, help="Fail the run when p95 latency exceeds this"
    )
    gate.add_argument(
        "--slo-p99-ms", type=float, default=None, help="Fail the run when p99 latency exceeds this"
    )
    gate.add_argument(
        "--slo-max-fail-ratio",
        type=float,
        default=None,
        help="Fail the run when failures/requests exceeds this (0.01 = 1%%)",
    )
    gate.add_argument(
        "--slo-min-rps",
        type=float,
        default=None,
        help="Fail the run when throughput is below this many requests/s",
    )
    gate.add_argument(
        "--report-dir", default=None, help="Write charts, per-request samples and summary.md here"
    )

    sagemaker = parser.add_argument_group("SageMaker endpoint (sagemaker_locustfile.py)")
    sagemaker.add_argument("--endpoint-name", default=None, help="SageMaker endpoint to invoke")
    sagemaker.add_argument(
        "--region", default=None, help="AWS region of the endpoint (default: the AWS configuration)"
    )
    sagemaker.add_argument(
        "--endpoint-url", default=None, help="Runtime URL override, e.g. a local stand-in"
    )


@dataclass(frozen=True)
class TrafficSettings:
    dataset: Path | None
    text_column: str
    mix: dict[RequestKind, float]
    batch_min: int
    batch_max: int
    labels: frozenset[str] | None
    think_time: float
    seed: int | None
    models: ModelMix | None = None  # a multi-model run's mix; None for one model


def _get(options: Any, name: str, default: Any = None) -> Any:
    return getattr(options, name, default) if options is not None else default


def traffic_settings(options: argparse.Namespace | None) -> TrafficSettings:
    labels = [
        label.strip() for label in (_get(options, "labels") or "").split(",") if label.strip()
    ]
    dataset = _get(options, "dataset")
    return TrafficSettings(
        dataset=Path(dataset) if dataset else None,
        text_column=_get(options, "text_column") or DEFAULT_TEXT_COLUMN,
        mix=parse_mix(_get(options, "mix") or DEFAULT_MIX),
        batch_min=_get(options, "batch_min", 2),
        batch_max=_get(options, "batch_max", 8),
        labels=frozenset(labels) if labels else None,
        think_time=float(_get(options, "think_time", 0.0) or 0.0),
        seed=_get(options, "seed"),
        models=_model_mix(options),
    )


def _model_mix(options: argparse.Namespace | None) -> ModelMix | None:
    count = int(_get(options, "models", 0) or 0)
    if count == 0:
        return None
    if count < 0:
        raise TrafficError(f"--models {count}: give 0 (one model) or more")
    prefix = _get(options, "model_prefix") or DEFAULT_MODEL_PREFIX
    try:
        return ModelMix.zipf(count, float(_get(options, "model_zipf", 1.0)), prefix)
    except ValueError as error:
        raise TrafficError(str(error)) from None


def shape_plan(options: argparse.Namespace) -> ShapePlan:
    return ShapePlan(
        kind=options.shape,
        users=options.num_users or 1,
        spawn_rate=options.spawn_rate or 1.0,
        run_time=parse_seconds(options.run_time),
        steps=options.steps,
        step_duration=parse_seconds(options.step_duration) or 0.0,
        spike_users=options.spike_users,
        spike_at=parse_seconds(options.spike_at) or 0.0,
        spike_duration=parse_seconds(options.spike_duration) or 0.0,
    )


def slo_targets(options: argparse.Namespace | None) -> SloTargets:
    return SloTargets(
        p95_ms=_get(options, "slo_p95_ms"),
        p99_ms=_get(options, "slo_p99_ms"),
        max_fail_ratio=_get(options, "slo_max_fail_ratio"),
        min_rps=_get(options, "slo_min_rps"),
    )
