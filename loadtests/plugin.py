"""Locust side of the load tests: our options, the configurable shape, the per-request
recorder, the SLO gate and the reports. Importing this module registers the listeners; both
locustfiles import it.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from locust import LoadTestShape
from locust import events as locust_events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests import charts, samples
from loadtests.dataset import DatasetError, load_texts
from loadtests.options import add_arguments, shape_plan, slo_targets, traffic_settings
from loadtests.shapes import ShapeError, ShapePlan, users_at
from loadtests.slo import Observed, violations
from loadtests.summary import EntryStats, run_summary
from loadtests.traffic import TrafficError
from loadtests.validation import invoked_variant, server_timings

logger = logging.getLogger("loadtests")

# Locust's event hooks are untyped; one Any-typed handle keeps mypy quiet about every use.
events: Any = locust_events

# One sample log per Environment (a process runs one; tests may build several).
_SAMPLE_LOGS: dict[int, samples.SampleLog] = {}


def _add_arguments(parser: Any, **_: Any) -> None:
    add_arguments(parser)


class ConfigurableShape(LoadTestShape):
    """constant, step or spike, chosen with --shape; reads -u, -r and -t as well."""

    use_common_options = True
    _plan: ShapePlan | None = None

    def tick(self) -> tuple[int, float] | None:
        if self._plan is None:
            assert self.runner is not None and self.runner.environment.parsed_options is not None
            self._plan = shape_plan(self.runner.environment.parsed_options)
        return users_at(self._plan, time.perf_counter() - self.start_time)


def fail_fast(message: str) -> None:
    """Configuration errors end the run at once with one line, before any user starts."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)


def _on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # library use (capacity search): the caller wires what it needs
        return
    try:
        settings = traffic_settings(options)
        if not isinstance(environment.runner, MasterRunner):
            load_texts(settings.dataset, settings.text_column)
        if environment.shape_class is not None:
            shape_plan(options)
    except (DatasetError, TrafficError, ShapeError) as error:
        fail_fast(str(error))
    if not isinstance(environment.runner, MasterRunner):
        record_samples(environment)


def record_samples(environment: Environment) -> samples.SampleLog:
    """Keep one row per request (with the server's timing headers) for charts and the split."""
    log = _SAMPLE_LOGS.setdefault(id(environment), samples.SampleLog())

    def on_request(
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        response: Any = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        headers = getattr(response, "headers", None)
        users = environment.runner.user_count if environment.runner else 0
        texts = int((context or {}).get("texts", 1))
        log.add(
            time.time(),
            name,
            response_time,
            exception is None,
            texts,
            users,
            server_timings(headers),
            invoked_variant(headers) or str((context or {}).get("variant") or ""),
            str((context or {}).get("model") or ""),
        )

    request_event: Any = environment.events.request
    request_event.add_listener(on_request)
    return log


def entry_stats(environment: Environment) -> list[EntryStats]:
    """Locust's statistics, one line per request name plus the aggregate."""
    stats = environment.stats
    entries = [*sorted(stats.entries.values(), key=lambda e: e.name), stats.total]
    return [
        EntryStats(
            name=entry.name,
            requests=entry.num_requests,
            failures=entry.num_failures,
            rps=entry.total_rps,
            p50_ms=entry.get_response_time_percentile(0.5) or 0.0,
            p95_ms=entry.get_response_time_percentile(0.95) or 0.0,
            p99_ms=entry.get_response_time_percentile(0.99) or 0.0,
            max_ms=entry.max_response_time or 0.0,
        )
        for entry in entries
    ]


def _on_quitting(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    total = entry_stats(environment)[-1]
    targets = slo_targets(options)
    found: list[str] | None = None
    if targets.active:
        observed = Observed(total.requests, total.failures, total.p95_ms, total.p99_ms, total.rps)
        found = violations(observed, targets)
        for line in found:
            logger.error("SLO violated: %s", line)
        if not found:
            logger.info("SLO gate passed")
        # Our gate replaces Locust's default "any failure exits 1": the failure ratio is a target.
        environment.process_exit_code = 1 if found else 0
    if options.report_dir:
        write_report(environment, Path(options.report_dir), found)


def write_report(
    environment: Environment, report_dir: Path, slo_violations: list[str] | None
) -> Path:
    """summary.md, samples.csv and the PNG charts; returns the summary's path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    log = _SAMPLE_LOGS.get(id(environment))
    frame = log.frame() if log else None
    made: list[str] = []
    split = variants = models = None
    if frame is not None and not frame.empty:
        variants = samples.per_variant(frame)
        models = samples.per_model(frame)
        frame.to_csv(report_dir / "samples.csv", index=False)
        charts.timeline_chart(samples.timeline(frame), report_dir / "timeline.png")
        made.append("timeline.png")
        split_series = samples.latency_split(frame)
        if not split_series.empty:
            charts.latency_split_chart(split_series, report_dir / "latency_split.png")
            made.append("latency_split.png")
        split = samples.split_percentiles(frame)
    errors = [(e.name, str(e.error), e.occurrences) for e in environment.stats.errors.values()]
    host = environment.host or getattr(environment.parsed_options, "endpoint_name", "") or ""
    text = run_summary(
        f"Load test: {host}", entry_stats(environment), slo_violations, split, made, errors,
        variants, models,
    )  # fmt: skip
    path = report_dir / "summary.md"
    path.write_text(text, encoding="utf-8")
    logger.info("report written to %s", report_dir)
    return path


events.init_command_line_parser.add_listener(_add_arguments)
events.init.add_listener(_on_init)
events.quitting.add_listener(_on_quitting)
