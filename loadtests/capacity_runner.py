"""`python -m loadtests capacity`: step offered load with Locust (as a library) until the SLO breaks.

Each step runs enough paced users to offer the target rate (each user starts one request
every 1/`--per-user-rps` seconds at most), waits `--warmup`, measures for `--step-time`, then
stops all users and lets the server drain. Importing locust gevent-patches the standard
library; nothing imported before it here opens sockets (see `__main__`).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from time import perf_counter
from typing import Any, ClassVar

import gevent
from locust.env import Environment

from loadtests import charts
from loadtests.capacity import CapacityResult, CapacitySlo, StepResult, search, step_violations
from loadtests.dataset import DatasetError, load_texts
from loadtests.local_server import ServerError, local_server
from loadtests.options import add_traffic_arguments, traffic_settings
from loadtests.summary import capacity_summary
from loadtests.traffic import TrafficError
from loadtests.users import InvocationsUser
from loadtests.validation import server_timings


class PacedUser(InvocationsUser):
    """Starts one request every `period` seconds at most, at a random phase (no lock-step)."""

    period: ClassVar[float] = 1.0

    def on_start(self) -> None:
        super().on_start()
        self._next_start = perf_counter() + random.uniform(0, self.period)

    def wait_time(self) -> float:
        now = perf_counter()
        wait = max(0.0, self._next_start - now)
        self._next_start = max(self._next_start, now) + self.period
        return wait


class _StepCollector:
    """Texts and server timings of requests completed inside the measuring window."""

    def __init__(self) -> None:
        self.active = False
        self.texts = 0
        self.queue: list[float] = []
        self.inference: list[float] = []

    def reset(self) -> None:
        self.active, self.texts, self.queue, self.inference = True, 0, [], []

    def on_request(
        self,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: Any = None,
        **_: Any,
    ) -> None:
        if not self.active or exception is not None:
            return
        self.texts += int((context or {}).get("texts", 1))
        timings = server_timings(getattr(response, "headers", None))
        if timings["queue_ms"] is not None:
            self.queue.append(timings["queue_ms"])
        if timings["inference_ms"] is not None:
            self.inference.append(timings["inference_ms"])


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class StepMeasurer:
    """Measures one offered rate; timings from the command line (--warmup, --step-time, ...)."""

    def __init__(self, host: str, args: argparse.Namespace) -> None:
        self.env = Environment(user_classes=[PacedUser], host=host, parsed_options=args)
        self.runner = self.env.create_local_runner()
        self.collector = _StepCollector()
        request_event: Any = self.env.events.request
        request_event.add_listener(self.collector.on_request)
        self.args = args

    def __call__(self, rate: float) -> StepResult:
        args = self.args
        users = max(1, math.ceil(rate / args.per_user_rps))
        PacedUser.period = users / rate
        self.runner.start(users, spawn_rate=max(users, 1))
        gevent.sleep(args.warmup)
        self.env.stats.reset_all()
        self.collector.reset()
        started = time.monotonic()
        # A p99 needs samples: at low rates the step lasts until about --min-requests were sent,
        # within --max-step-time.
        gevent.sleep(min(max(args.step_time, args.min_requests / rate), args.max_step_time))
        elapsed = time.monotonic() - started
        self.collector.active = False
        total = self.env.stats.total
        result = StepResult(
            offered_rps=rate,
            users=users,
            duration_s=elapsed,
            requests=total.num_requests,
            failures=total.num_failures,
            achieved_rps=total.num_requests / elapsed,
            texts_rps=self.collector.texts / elapsed,
            p50_ms=total.get_response_time_percentile(0.5) or 0.0,
            p95_ms=total.get_response_time_percentile(0.95) or 0.0,
            p99_ms=total.get_response_time_percentile(0.99) or 0.0,
            queue_p50_ms=_median(self.collector.queue),
            inference_p50_ms=_median(self.collector.inference),
        )
        self.runner.stop()
        gevent.sleep(args.cooldown)  # let the server drain its queue before the next step
        return result

    def close(self) -> None:
        self.runner.quit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests capacity",
        description="Find the highest request rate one server sustains within an SLO.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--host", help="Base URL of a running server")
    target.add_argument(
        "--model-dir", type=Path, help="Start a local server on this artifact for the search"
    )
    search_group = parser.add_argument_group("search")
    search_group.add_argument(
        "--slo-p99-ms", type=float, default=100.0, help="p99 latency target (default 100)"
    )
    search_group.add_argument(
        "--max-fail-ratio", type=float, default=0.0, help="Failures allowed per request (default 0)"
    )
    search_group.add_argument(
        "--min-achieved",
        type=float,
        default=0.95,
        help="Achieved/offered rate a step needs (default 0.95)",
    )
    search_group.add_argument("--start-rps", type=float, default=10.0)
    search_group.add_argument(
        "--growth", type=float, default=1.5, help="Offered rate multiplier between steps"
    )
    search_group.add_argument("--max-rps", type=float, default=2000.0)
    search_group.add_argument(
        "--min-rps", type=float, default=1.0, help="Lowest rate tried when --start-rps fails"
    )
    search_group.add_argument(
        "--refine-steps", type=int, default=3, help="Bisection steps after the first failure"
    )
    search_group.add_argument(
        "--per-user-rps", type=float, default=5.0, help="Requests/s each simulated user offers"
    )
    search_group.add_argument(
        "--warmup", type=float, default=3.0, help="Seconds per step before measuring"
    )
    search_group.add_argument(
        "--step-time", type=float, default=15.0, help="Seconds measured per step (at least)"
    )
    search_group.add_argument(
        "--min-requests",
        type=int,
        default=600,
        help="Requests a step should measure, for a p99 worth the name: slow rates get longer steps",
    )
    search_group.add_argument(
        "--max-step-time", type=float, default=60.0, help="Longest a step measures, in seconds"
    )
    search_group.add_argument(
        "--cooldown", type=float, default=1.0, help="Seconds idle between steps"
    )
    search_group.add_argument("--report-dir", type=Path, default=Path("reports/capacity"))
    add_traffic_arguments(parser)  # --dataset, --mix, --batch-max, ... as for a run
    return parser


def _print_step(step: StepResult, reasons: list[str]) -> None:
    verdict = "ok" if not reasons else "; ".join(reasons)
    print(
        f"offered {step.offered_rps:7.1f} req/s  users {step.users:4d}  achieved {step.achieved_rps:7.1f} req/s"
        f"  p50 {step.p50_ms:5.0f}  p95 {step.p95_ms:5.0f}  p99 {step.p99_ms:5.0f} ms  {verdict}",
        flush=True,
    )


def run_search(host: str, args: argparse.Namespace) -> CapacityResult:
    slo = CapacitySlo(args.slo_p99_ms, args.max_fail_ratio, args.min_achieved)
    measurer = StepMeasurer(host, args)
    load_before = os.getloadavg()[0]
    try:
        result = search(
            measurer,
            slo,
            args.start_rps,
            args.growth,
            args.max_rps,
            args.refine_steps,
            min_rps=args.min_rps,
            on_step=_print_step,
        )
    finally:
        measurer.close()
    result.notes.append(
        f"Measured against {host} on {os.cpu_count()} CPUs with load average (1 min) "
        f"{load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end; Locust and "
        "anything else running on this machine share its CPUs with the server."
    )
    return result


def write_capacity_report(result: CapacityResult, report_dir: Path) -> str:
    report_dir.mkdir(parents=True, exist_ok=True)
    chart = None
    if result.steps:
        charts.capacity_chart(
            result.steps, report_dir / "capacity.png", result.slo.p99_ms, result.capacity_rps
        )
        chart = "capacity.png"
    text = capacity_summary(result, chart)
    (report_dir / "summary.md").write_text(text, encoding="utf-8")
    rows = [
        "offered_rps,users,achieved_rps,texts_rps,p50_ms,p95_ms,p99_ms,requests,failures,passed"
    ]
    rows += [
        f"{s.offered_rps:.2f},{s.users},{s.achieved_rps:.2f},{s.texts_rps:.2f},{s.p50_ms:.1f},{s.p95_ms:.1f},"
        f"{s.p99_ms:.1f},{s.requests},{s.failures},{not step_violations(s, result.slo)}"
        for s in sorted(result.steps, key=lambda s: s.offered_rps)
    ]
    (report_dir / "curve.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = traffic_settings(args)
        load_texts(settings.dataset, settings.text_column)
        if args.model_dir is None:
            result = run_search(args.host.rstrip("/"), args)
        else:
            with local_server(args.model_dir) as url:
                result = run_search(url, args)
    except (DatasetError, TrafficError, ServerError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print()
    print(write_capacity_report(result, args.report_dir))
    print(f"Report: {args.report_dir}/summary.md, curve.csv, capacity.png")
    return 0 if result.capacity_rps is not None else 1


if __name__ == "__main__":
    sys.exit(main())
