"""Every PromQL expression we ship, evaluated by a real Prometheus scraping a real server.

Debian's `prometheus` (installed by `make prometheus`) scrapes a two-worker server every
second; relabelling adds the labels SageMaker's detailed observability adds (endpoint and
variant). A short load, then a forced shed: the expressions the CLI writes into its alarms, its
dashboard and its reports, the Compose stack's Grafana dashboard and its alert rules, must each
answer with the value the traffic implies. promtool validates the Compose configuration.

Prometheus 2.42 cannot hold dotted label names (`aws.sagemaker.endpoint.name`; CloudWatch's
PromQL is Prometheus 3, where they are quoted), so the relabelling writes them with underscores
and `legacy()` rewrites each generated selector to the unquoted form: the rest of every
expression, functions, windows, aggregation and thresholds, runs as generated.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deploy import alarms, observability, promql, promql_api
from deploy.aws import Aws
from loadtests.local_server import free_port, local_server, stop_process
from training.tiny_onnx_artifact import build_onnx_artifact

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PROMETHEUS = ROOT / "docker" / "prometheus"
GRAFANA_DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "headline-serve.json"
ENDPOINT, VARIANT = "headline", "AllTraffic"
LEGACY = promql.Labels("aws_sagemaker_endpoint_name", "aws_sagemaker_variant_name", quoted=False)
QUEUE_LIMIT = 3  # texts a worker may queue: a request of 4 texts is shed on arrival
SHEDS = alarms.SERVER_FAILURES_PER_MINUTE + 2  # enough to breach the alarm in one minute
LOAD_REQUESTS = 120


def legacy(expression: str) -> str:
    """A generated expression with each quoted (Prometheus 3) selector written as Prometheus 2
    writes it, label names with underscores: the only difference between the two."""

    def rewrite(match: re.Match[str]) -> str:
        metric, matchers = match.group(1), match.group(2)
        pairs = re.findall(r'"([^"]+)"=("(?:[^"\\]|\\.)*")', matchers)
        inner = ", ".join(f"{name.replace('.', '_')}={value}" for name, value in pairs)
        return f"{metric}{{{inner}}}"

    rewritten = re.sub(r'\{"([a-zA-Z_:][a-zA-Z0-9_:]*)"((?:, "[^"]+"="(?:[^"\\]|\\.)*")*)\}',
                       rewrite, expression)  # fmt: skip
    assert '"aws.' not in rewritten, rewritten
    return rewritten


@dataclass
class Stack:
    server: str
    prometheus: str
    texts_answered: int = 0

    def query(self, expression: str) -> list[dict[str, Any]]:
        answer = httpx.post(f"{self.prometheus}/api/v1/query", data={"query": expression})
        assert answer.status_code == 200, (expression, answer.text)
        data = answer.json()["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        assert data["resultType"] == "vector", (expression, data)
        return list(data["result"])

    def value(self, expression: str) -> float:
        [sample] = self.query(expression)
        return float(sample["value"][1])

    def scraped(self) -> None:
        """Wait until Prometheus holds a scrape taken after now."""
        # The server counts a request just after answering it: leave it a moment.
        since = time.time() + 0.5
        deadline = since + 15
        while time.time() < deadline:
            up = self.query(f'timestamp(up{{job="server"}}) > {since:.3f}')
            if up:
                return
            time.sleep(0.2)
        raise AssertionError("Prometheus did not scrape the server again")


def _prometheus_config(directory: Path, target: str) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "server",
            "static_configs": [{"targets": [target]}],
            # What detailed observability adds to every series it sends.
            "relabel_configs": [
                {"target_label": LEGACY.endpoint, "replacement": ENDPOINT},
                {"target_label": LEGACY.variant, "replacement": VARIANT},
            ],
        }],
    }  # fmt: skip
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("no prometheus binary: `make prometheus` installs Debian's package")
    work = tmp_path_factory.mktemp("promql")
    model = build_onnx_artifact(work / "model")
    env = {"SERVE_WORKERS": "2", "SERVE_INTRA_OP_THREADS": "1",
           "SERVE_MAX_QUEUE_TEXTS": str(QUEUE_LIMIT)}  # fmt: skip
    with local_server(model, env=env, log_path=work / "server.log") as server:
        port = free_port()
        config = _prometheus_config(work, server.removeprefix("http://"))
        command = [binary, f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
                   f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
        log = (work / "prometheus.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    if httpx.get(f"{url}/-/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise AssertionError((work / "prometheus.log").read_text())
            stack = Stack(server, url)
            stack.scraped()  # a first scrape before any traffic: counters start from it
            yield stack
        finally:
            stop_process(process)
            log.close()


def _load(stack: Stack) -> None:
    """A short load of one-text requests, two at a time (never enough to queue QUEUE_LIMIT)."""

    def one(index: int) -> int:
        answer = httpx.post(f"{stack.server}/invocations", json={"inputs": [f"headline {index}"]})
        return answer.status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(one, range(LOAD_REQUESTS)))
    assert statuses == [200] * LOAD_REQUESTS
    stack.texts_answered += LOAD_REQUESTS


def _shed(stack: Stack, times: int) -> None:
    for _ in range(times):
        answer = httpx.post(
            f"{stack.server}/invocations", json={"inputs": ["a", "b", "c", "d"][: QUEUE_LIMIT + 1]}
        )
        assert answer.status_code == 503, answer.text


def _server_alarm_query() -> str:
    [server] = [r for r in alarms.requests(ENDPOINT, VARIANT, alarms.AlarmLimits())
                if "EvaluationCriteria" in r]  # fmt: skip
    return str(server["EvaluationCriteria"]["PromQLCriteria"]["Query"])


def _dashboard_queries() -> dict[str, str]:
    body = observability.dashboard_body(ENDPOINT, [VARIANT], "eu-west-1")
    return {
        f"{widget['properties']['title']}: {query['label']}": str(query["query"])
        for widget in body["widgets"]
        if widget["type"] == "chart"
        for query in widget["properties"]["data"]["queries"]
    }


def test_generated_promql_answers_what_the_traffic_implies(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudWatch "Using PromQL in alarms": the query returns a series (a contributor) only
    while breaching; "PromQL querying": selectors as generated. Before any shed the
    server-health expression is 0 and its alarm silent; after more sheds than the alarm's
    threshold it counts them and the alarm's query returns one contributor."""
    _load(stack)
    stack.scraped()
    failures = legacy(promql.server_failures(ENDPOINT, VARIANT))
    alarm = legacy(_server_alarm_query())
    assert stack.value(failures) == 0
    assert stack.query(alarm) == []

    _shed(stack, SHEDS)
    stack.scraped()
    assert SHEDS <= stack.value(failures) <= SHEDS * 1.5  # increase() extrapolates a little
    [contributor] = stack.query(alarm)
    assert float(contributor["value"][1]) > alarms.SERVER_FAILURES_PER_MINUTE
    # Another endpoint's series are not this one's.
    assert stack.value(legacy(promql.server_failures("other", VARIANT))) == 0

    queries = _dashboard_queries()
    assert len(queries) == 6, queries
    by_status = {s["metric"]["status"]: float(s["value"][1])
                 for s in stack.query(legacy(promql.request_rate(ENDPOINT, VARIANT)))}  # fmt: skip
    # A shed request is a 503 when refused after its body was read, only a reject when
    # refused on arrival (service: shedding before the body): which one varies with timing.
    assert by_status["200"] > 0 and by_status.keys() <= {"200", "503"}
    for title, query in queries.items():
        answer = stack.query(legacy(query))
        assert answer, f"{title}: no data from {query}"
        values = [float(s["value"][1]) for s in answer]
        assert all(math.isfinite(v) and v >= 0 for v in values), (title, values)
    p50, p99 = (stack.value(legacy(promql.latency_quantile(q, ENDPOINT, VARIANT)))
                for q in (0.5, 0.99))  # fmt: skip
    assert 0 < p50 <= p99 < 5
    assert stack.value(legacy(promql.queue_texts(ENDPOINT, VARIANT))) == 0  # at rest

    # The shadow report's label counts: a SigV4-signed POST through deploy.promql_api, which
    # Prometheus answers as CloudWatch's QueryMetrics does.
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    samples = promql_api.instant(
        Aws("eu-west-1"),
        legacy(promql.predictions_by_label(ENDPOINT, VARIANT, "5m")),
        datetime.now(UTC),
        base_url=stack.prometheus,
    )
    counted = sum(s.value for s in samples)
    assert samples and all(s.labels["label"] for s in samples)
    # increase() extrapolates to the window's ends: over a series seconds long, by up to ~20%
    assert stack.texts_answered <= counted <= stack.texts_answered * 1.25


def _grafana_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(GRAFANA_DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", "1m"))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_compose_dashboard_and_alert_rules_answer_on_real_metrics(stack: Stack) -> None:
    """The Grafana dashboard's every panel query returns finite data after load and sheds; the
    alert rules parse and evaluate, the shedding alert fires and the failed-batch one does
    not."""
    _load(stack)
    _shed(stack, 1)
    stack.scraped()
    for title, expression in _grafana_queries():
        answer = stack.query(expression)
        assert answer, f"{title}: no data from {expression}"
        assert all(math.isfinite(float(s["value"][1])) for s in answer), (title, answer)
    rules = yaml.safe_load((COMPOSE_PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    fired = {
        rule["alert"]: bool(stack.query(rule["expr"]))
        for group in rules["groups"]
        for rule in group["rules"]
    }
    fired.pop("ServerErrorRatio")  # evaluated above; fires only if a shed was answered 503
    assert fired == {"ServerNotReady": False, "ServerShedding": True, "FailedBatches": False}


def test_promtool_validates_the_compose_configuration_and_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("no promtool: `make prometheus` installs Debian's package")
    checked = subprocess.run(
        [promtool, "check", "config", str(COMPOSE_PROMETHEUS / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout + checked.stderr


def test_selectors_are_written_as_cloudwatch_reads_them() -> None:
    """CloudWatch "PromQL querying": Prometheus 3 syntax, the metric name and dotted label
    names quoted inside the braces; values escaped. legacy() gives exactly the unquoted
    rendering, so what runs on Prometheus 2 above is the generated expression."""
    quoted = promql.SAGEMAKER.selector("serve_rejects_total", 'he"ad', "AllTraffic")
    assert quoted == (
        '{"serve_rejects_total", "aws.sagemaker.endpoint.name"="he\\"ad", '
        '"aws.sagemaker.variant.name"="AllTraffic"}'
    )
    expression = promql.server_failures(ENDPOINT, VARIANT)
    assert legacy(expression) == promql.server_failures(ENDPOINT, VARIANT, labels=LEGACY)
    with pytest.raises(ValueError, match="quoted"):
        promql.Labels(quoted=False).selector("m", "e", "v")
