"""Each deploy feature against AWS's own rules, where moto would have let a wrong call through
(issue: "Real AWS, not only the mock"). Each test names the AWS document it follows; the
conformance layer (conformance.py) holds the same rules over the whole deploy suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import conformance
import pytest
from botocore.exceptions import ConnectTimeoutError
from botocore.stub import Stubber
from botocore.validate import ParamValidator
from deploy_helpers import BUCKET, IMAGE, Cloud, cli_ok, deploy_args, run_cli, sent

from deploy import alarms, async_invoke
from deploy.aws import Aws
from deploy.public_api.lambda_handler import Classifier, HandlerConfig
from deploy.storage import Uploader

OUTPUT = f"s3://{BUCKET}/headline-serve/async/headline/"
COMPONENT = "headline-component"
REST_HEADER = "integration.request.header.X-Amzn-SageMaker-Inference-Component"


def test_conformance_refuses_a_metric_the_hosting_mode_does_not_publish(
    cloud: Cloud, artifact: Path
) -> None:
    """SageMaker "Monitoring asynchronous endpoints" (an exhaustive list: no Invocations) and
    "Scale an endpoint to zero instances" (NoCapacityInvocationFailures): the layer that holds
    the suite to them refuses what the shipped code had, where moto accepted it."""
    cli_ok(*deploy_args("--artifact", str(artifact), "--async", "--output", OUTPUT))
    alarm = {"AlarmName": "x", "Namespace": "AWS/SageMaker", "MetricName": "Invocations",
             "Dimensions": [{"Name": "EndpointName", "Value": "headline"}]}  # fmt: skip
    with pytest.raises(conformance.Violation, match="no Invocations for a async endpoint"):
        conformance.check("PutMetricAlarm", alarm)
    wake = {**alarm, "MetricName": "NoCapacityInvokeFailures"}
    with pytest.raises(conformance.Violation, match="NoCapacityInvokeFailures"):
        conformance.check("PutMetricAlarm", wake)
    promql_with_threshold = {"AlarmName": "x", "Threshold": 1, "EvaluationInterval": 60,
                             "EvaluationCriteria": {"PromQLCriteria": {"Query": "up"}}}  # fmt: skip
    with pytest.raises(conformance.Violation, match="PromQL alarm cannot have"):
        conformance.check("PutMetricAlarm", promql_with_threshold)
    serverless: dict[str, Any] = {
        "ProductionVariants": [{"ServerlessConfig": {}}],
        "MetricsConfig": {},
    }
    with pytest.raises(conformance.Violation, match="serverless"):
        conformance.check("CreateEndpointConfig", serverless)


def test_the_async_rollback_alarm_reads_a_metric_async_endpoints_publish(
    cloud: Cloud, artifact: Path, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """SageMaker "Monitoring asynchronous endpoints": Invocations is not published for an
    asynchronous endpoint, so 5xx / Invocations never had data; "Monitor SageMaker AI with
    Amazon CloudWatch": Invocation5XXErrors is 1 per 5xx response and 0 otherwise, so its
    Average is the 5xx share."""
    cli_ok(*deploy_args("--artifact", str(artifact), "--async", "--output", OUTPUT))
    made = {p["AlarmName"]: p for p in sent(sent_calls, "PutMetricAlarm")}
    rate = made["headline-5xx-rate"]
    assert (rate["MetricName"], rate["Statistic"]) == ("Invocation5XXErrors", "Average")
    assert rate["Threshold"] == alarms.AlarmLimits().max_5xx_percent / 100
    assert "Metrics" not in rate
    [body] = [json.loads(p["DashboardBody"]) for p in sent(sent_calls, "PutDashboard")]
    shown = json.dumps(body)
    assert '"Invocations"' not in shown and "OverheadLatency" not in shown


def test_metrics_off_is_said_and_metrics_on_scrape_our_path(
    cloud: Cloud, artifact: Path, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """SageMaker API MetricsConfig: "The default value for new endpoint configurations is True",
    so leaving it out turns nothing off; ContainerMetricsConfig names the scraped path."""
    cli_ok(*deploy_args("--artifact", str(artifact), "--metrics-frequency", "0"))
    [config] = sent(sent_calls, "CreateEndpointConfig")
    assert config["MetricsConfig"] == {"EnableDetailedObservability": False}
    [model] = sent(sent_calls, "CreateModel")
    assert "ContainerMetricsConfig" not in model["PrimaryContainer"]


def test_status_of_serverless_and_component_endpoints(cloud: Cloud, artifact: Path) -> None:
    """SageMaker API ProductionVariant: a serverless variant has no InstanceType, a variant of
    capacity for inference components no ModelName; `status` crashed on both."""
    serverless = ("--serverless", "--memory", "2048", "--max-concurrency", "5")
    cli_ok(*deploy_args("--artifact", str(artifact), *serverless))
    shown = cli_ok("status", "--endpoint", "headline")
    assert "serverless 2048 MB" in shown
    cli_ok("delete", "--endpoint", "headline", "--yes")
    cli_ok(*deploy_args("--artifact", str(artifact), "--inference-component"))
    shown = cli_ok("status", "--endpoint", "headline")
    assert COMPONENT in shown and "(inference components)" in shown


def test_status_of_an_async_endpoint_asks_for_no_invocations(
    cloud: Cloud, artifact: Path, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """SageMaker "Monitoring asynchronous endpoints": no Invocations for such an endpoint
    (the conformance layer refuses a GetMetricData that asks for it)."""
    cli_ok(*deploy_args("--artifact", str(artifact), "--async", "--output", OUTPUT))
    sent_calls.clear()
    cli_ok("status", "--endpoint", "headline")
    [query] = sent(sent_calls, "GetMetricData")
    names = {q["MetricStat"]["Metric"]["MetricName"] for q in query["MetricDataQueries"]}
    assert names == {"Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency"}


def test_expose_names_the_component_in_both_flavours(cloud: Cloud, artifact: Path) -> None:
    """SageMaker Runtime API InvokeEndpoint: an endpoint of inference components needs
    InferenceComponentName (header X-Amzn-SageMaker-Inference-Component) on every call."""
    cli_ok(*deploy_args("--artifact", str(artifact), "--inference-component"))
    cli_ok("expose", "--endpoint", "headline", "--auth", "jwt", "--jwt-issuer",
        "https://id.example.com", "--jwt-audience", "app")  # fmt: skip
    function = cloud.client("lambda").get_function(FunctionName="headline-public-api")
    variables = function["Configuration"]["Environment"]["Variables"]
    assert variables["INFERENCE_COMPONENT_NAME"] == COMPONENT
    cli_ok("unexpose", "--endpoint", "headline", "--yes")
    cli_ok("expose", "--endpoint", "headline", "--auth", "api-key", "--no-lambda")
    gateway = cloud.client("apigateway")
    [api] = gateway.get_rest_apis()["items"]
    items = gateway.get_resources(restApiId=api["id"])["items"]
    classify = next(item["id"] for item in items if item["path"] == "/classify")
    integration = gateway.get_integration(restApiId=api["id"], resourceId=classify,
                                          httpMethod="POST")  # fmt: skip
    assert integration["requestParameters"][REST_HEADER] == f"'{COMPONENT}'"


def test_the_lambda_sends_the_component_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """SageMaker Runtime API InvokeEndpoint: InferenceComponentName travels as the header."""
    config = HandlerConfig.from_env({"ENDPOINT_NAME": "ep", "INFERENCE_COMPONENT_NAME": "c1",
                                     "SAGEMAKER_RUNTIME_URL": "http://127.0.0.1:9"})  # fmt: skip
    assert config.component_name == "c1"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    classifier = Classifier(config)
    headers: list[dict[str, str]] = []

    def capture(request: Any, **_: Any) -> None:
        headers.append({k: v.decode() if isinstance(v, bytes) else v
                        for k, v in request.headers.items()})  # fmt: skip
        raise ConnectTimeoutError(endpoint_url="captured")  # no model: the header is the point

    classifier.runtime.meta.events.register("before-send", capture)
    event = {"httpMethod": "POST", "path": "/classify", "headers": {}, "requestContext": {},
             "body": json.dumps({"text": "a headline"}), "isBase64Encoded": False}  # fmt: skip
    assert classifier(event)["statusCode"] == 504
    assert headers and headers[0]["X-Amzn-SageMaker-Inference-Component"] == "c1"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (("--serverless", "--memory", "2048", "--max-concurrency", "5"), "provisioned concurrency"),
        (("--async", "--output", OUTPUT), "backlog"),
        (("--inference-component",), "scales copies"),
    ],
)
def test_autoscale_refuses_modes_that_do_not_scale_instances(
    cloud: Cloud, artifact: Path, mode: tuple[str, ...], message: str
) -> None:
    """Application Auto Scaling for SageMaker: serverless scales provisioned concurrency,
    components scale copies; "Monitoring asynchronous endpoints": no concurrency metric."""
    cli_ok(*deploy_args("--artifact", str(artifact), *mode))
    result = run_cli("autoscale", "--endpoint", "headline")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_a_variant_change_keeps_the_async_hosting(
    cloud: Cloud, artifact: Path, sent_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """SageMaker API CreateEndpointConfig: AsyncInferenceConfig makes the endpoint
    asynchronous; a new config without it would move the endpoint to real-time."""
    cli_ok(*deploy_args("--artifact", str(artifact), "--async", "--output", OUTPUT))
    sent_calls.clear()
    cli_ok("variants", "--endpoint", "headline", "--image", IMAGE, "--poll-interval", "0.01",
        "--variant", "name=A,current=AllTraffic,weight=1",
        "--variant", "name=B,current=AllTraffic,weight=1")  # fmt: skip
    configs = sent(sent_calls, "CreateEndpointConfig")
    assert configs and all("AsyncInferenceConfig" in c for c in configs)


def test_a_missing_key_answered_403_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 API HeadObject: without s3:ListBucket (ours is granted under a prefix condition a HEAD
    does not carry) a missing key answers 403 Forbidden, not 404."""
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    aws = Aws("eu-west-1")
    with Stubber(aws.s3) as stub:
        for _ in range(2):
            stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        assert Uploader(aws, BUCKET)._existing_sha256("headline-serve/x/model.tar.gz") is None
        assert async_invoke._exists(aws, f"s3://{BUCKET}/headline-serve/async/x.out") is False


def test_alarm_requests_match_the_pinned_botocore_model() -> None:
    """CloudWatch API PutMetricAlarm in the pinned botocore model (1.44.5): EvaluationCriteria,
    PromQLCriteria and EvaluationInterval exist there with these types; an older floor would
    refuse the PromQL alarm before sending it."""
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model("PutMetricAlarm").input_shape
    made = alarms.requests("headline", "AllTraffic", alarms.AlarmLimits())
    for request in made:
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()
    assert {"EvaluationCriteria", "EvaluationInterval"} <= set(shape.members)
    assert "PromQLCriteria" in shape.members["EvaluationCriteria"].members
