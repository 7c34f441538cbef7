"""Locust entry and user for the public API in front of the endpoint (`python -m deploy expose`).

The user draws the same texts and request kinds as the other users and sends them as the
public JSON (the CSV kind too: the public API speaks only JSON), with the API key.

    locust -f loadtests/public_api_locustfile.py --headless \
        -H https://ID.execute-api.eu-west-1.amazonaws.com/prod --api-key "$KEY" \
        -u 8 -t 1m --slo-p99-ms 500 --report-dir reports/public-api

The key can come from PUBLIC_API_KEY instead of the command line. Mind the usage plan: its
rate, burst and daily quota apply to the load test as to any caller (429 past them).
"""

from typing import Any

from locust import task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment

from loadtests.options import traffic_settings
from loadtests.plugin import ConfigurableShape, events, fail_fast
from loadtests.public_api_calls import check_public_answer, public_body
from loadtests.users import _traffic
from loadtests.validation import InvalidResponse

__all__ = ["ConfigurableShape", "PublicApiUser"]


class PublicApiUser(FastHttpUser):
    """The public API (pass -H with the stage URL, --api-key for the REST API's key)."""

    connection_timeout = 10.0
    network_timeout = 35.0  # API Gateway cuts every request at 29-30 s

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.settings = traffic_settings(options)
        self.traffic, _ = _traffic(self.settings)  # one model behind the public API
        self.api_key = getattr(options, "api_key", None) or ""

    def wait_time(self) -> float:
        return self.settings.think_time

    @task
    def classify(self) -> None:
        call = self.traffic.next()
        batch = call.kind != "json_single"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        client: Any = self.client  # FastHttpSession accepts bytes; its annotation says str
        with client.post(
            "/classify",
            data=public_body(call.texts, batch),
            headers=headers,
            name="/classify batch" if batch else "/classify single",
            catch_response=True,
            context={"texts": len(call.texts)},
        ) as response:
            try:
                check_public_answer(
                    response.status_code, response.content, len(call.texts), self.settings.labels
                )
            except InvalidResponse as error:
                response.failure(str(error))
            else:
                response.success()


def _add_arguments(parser: Any, **_: Any) -> None:
    # On the parser itself: Locust's is_secret (hidden in the web UI) is not known to groups.
    parser.add_argument(
        "--api-key",
        default=None,
        env_var="PUBLIC_API_KEY",
        is_secret=True,
        help="The API key `deploy expose --auth api-key` made, sent as x-api-key",
    )


def _require_host(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and not (options.host or environment.host):
        fail_fast("-H is required: the public API's URL, with its stage (.../prod)")


events.init_command_line_parser.add_listener(_add_arguments)
events.init.add_listener(_require_host)
