"""Locust entry for a server over HTTP (local, Compose, any host speaking the contract).

    locust -f loadtests/locustfile.py -H http://127.0.0.1:8080 --headless -u 8 -t 30s \
        --slo-p99-ms 200 --report-dir reports/run

Options: `locust -f loadtests/locustfile.py --help` (groups "traffic", "load shape", "SLO gate").
"""

from loadtests.plugin import ConfigurableShape
from loadtests.users import InvocationsUser

__all__ = ["ConfigurableShape", "InvocationsUser"]
