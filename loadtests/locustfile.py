"""Locust entry for a server over HTTP (local, Compose, any host speaking the contract).

    locust -f loadtests/locustfile.py -H http://127.0.0.1:8080 --headless -u 8 -t 30s \
        --slo-p99-ms 200 --report-dir reports/run

Options: `locust -f loadtests/locustfile.py --help` (groups "traffic", "load shape", "SLO gate").
"""

from typing import Any

from locust.env import Environment

from loadtests.plugin import ConfigurableShape, events, fail_fast
from loadtests.users import InvocationsUser

__all__ = ["ConfigurableShape", "InvocationsUser"]


def _require_host(environment: Environment, **_: Any) -> None:
    # Headless without a host, Locust stops at the first request yet exits 0: a CI gate would pass.
    options = environment.parsed_options
    if options is not None and options.headless and not environment.host:
        fail_fast("-H/--host is required, e.g. -H http://127.0.0.1:8080")


events.init.add_listener(_require_host)
