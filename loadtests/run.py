"""`python -m loadtests run`: one headless Locust run with every report, then its summary.

Starts a server on `--model-dir` for the run (or targets `--host`), runs Locust in a child
process with HTML, CSV, charts and summary.md going to `--report-dir`, prints the summary and
exits with Locust's code (non-zero when the SLO gate fails). Options it does not know go to
Locust unchanged, e.g. `--shape step --slo-p99-ms 200 --mix json_single=1`.

With `--models N` (a Locust option of ours: a Zipf mix over N models, see model_mix) and
`--model-dir`, the server is started multi-model and the N models are loaded before the run
(multi_model_run); with `--host`, the server must hold them already.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from loadtests.local_server import ServerError, local_server
from loadtests.model_mix import DEFAULT_PREFIX, model_names
from loadtests.multi_model_run import multi_model_server

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests run",
        description="Headless Locust run with reports. Unknown options are passed to Locust.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--host", help="Base URL of a running server, e.g. http://127.0.0.1:8080")
    target.add_argument(
        "--model-dir", type=Path, help="Start a local server on this artifact for the run"
    )
    parser.add_argument("--report-dir", type=Path, default=Path("reports/loadtest"))
    parser.add_argument(
        "-u", "--users", type=int, default=8, help="Users (constant shape; peak or base otherwise)"
    )
    parser.add_argument(
        "-r", "--spawn-rate", type=float, default=8.0, help="Users started per second"
    )
    parser.add_argument("-t", "--run-time", default="30s", help="Run time, e.g. 30s or 2m")
    parser.add_argument("--locustfile", type=Path, default=LOCUSTFILE)
    return parser


def locust_command(args: argparse.Namespace, host: str, extra: list[str]) -> list[str]:
    report = args.report_dir
    return [
        sys.executable, "-m", "locust", "-f", str(args.locustfile), "--headless", "--only-summary",
        "--host", host, "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.run_time,
        "--html", str(report / "locust.html"), "--csv", str(report / "locust"),
        "--report-dir", str(report), *extra,
    ]  # fmt: skip


def _run_locust(args: argparse.Namespace, host: str, extra: list[str]) -> int:
    args.report_dir.mkdir(parents=True, exist_ok=True)
    code = subprocess.call(locust_command(args, host, extra))
    summary = args.report_dir / "summary.md"
    if summary.is_file():
        print("\n" + summary.read_text(encoding="utf-8"))
        print(
            f"Reports in {args.report_dir}/: locust.html, locust_stats.csv, summary.md, PNG charts"
        )
    return code


def mix_names(extra: list[str]) -> list[str]:
    """The model names a `--models N [--model-prefix P]` run will send (none for one model)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--models", type=int, default=0)
    parser.add_argument("--model-prefix", default=DEFAULT_PREFIX)
    known, _ = parser.parse_known_args(extra)
    return model_names(known.models, known.model_prefix) if known.models > 0 else []


def main(argv: list[str] | None = None) -> int:
    args, extra = _parser().parse_known_args(argv)
    log = args.report_dir / "server.log"
    try:
        if args.host:
            return _run_locust(args, args.host.rstrip("/"), extra)
        names = mix_names(extra)
        if names:
            with multi_model_server(args.model_dir, names, log_path=log) as url:
                return _run_locust(args, url, extra)
        with local_server(args.model_dir, log_path=log) as url:
            return _run_locust(args, url, extra)
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
