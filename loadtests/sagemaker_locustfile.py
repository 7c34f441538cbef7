"""Locust entry for a SageMaker real-time endpoint, through boto3's invoke_endpoint.

    locust -f loadtests/sagemaker_locustfile.py --headless --endpoint-name NAME --region eu-west-1 \
        -u 8 -t 1m --slo-p99-ms 300 --report-dir reports/sagemaker

Credentials come from the usual AWS chain (environment, profile, role).
"""

from typing import Any

from locust.env import Environment

from loadtests.plugin import ConfigurableShape, events, fail_fast
from loadtests.users import SageMakerUser

__all__ = ["ConfigurableShape", "SageMakerUser"]


def _require_endpoint(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and not options.endpoint_name:
        fail_fast("--endpoint-name is required for a SageMaker endpoint")


events.init.add_listener(_require_endpoint)
