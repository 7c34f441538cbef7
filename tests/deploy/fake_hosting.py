"""The hosting modes' calls moto lacks, patched into the moto server's process (installed by
fake_sagemaker.install), with the real API's request and response shapes:

- `CreateInferenceComponent`, `DescribeInferenceComponent`, `UpdateInferenceComponent`,
  `ListInferenceComponents`, `DeleteInferenceComponent`: components live on moto's SageMaker
  backend (so moto's reset clears them); a component needs an endpoint whose config has
  instance capacity and no model, and a model that exists; `DeleteEndpoint` refuses an endpoint
  that still hosts one, as SageMaker does. `STATE.component("name", "Creating", "Failed:why")`
  scripts the statuses the next describes report.
- `InvokeEndpointAsync`: answers 202 with the output and failure locations SageMaker derives
  from the endpoint config's `AsyncInferenceConfig` (`<S3OutputPath>/<id>.out`,
  `<S3FailurePath>/<id>-error.out`); a moment later it reads the input object from moto's S3,
  POSTs it to the real server registered for the endpoint (`STATE.containers[endpoint] = url`)
  with the request's content type and accept, and writes the answer, or the failure, to S3.
- CreateEndpointConfig accepts a variant of instance capacity with no model (moto requires
  one), as an endpoint for inference components has.
- Application Auto Scaling accepts `sagemaker:inference-component:DesiredCopyCount` on
  `inference-component/NAME` (moto knows only variants).
- CloudWatch's PromQL query API (`POST /api/v1/query`, form encoded, SigV4 for `monitoring`),
  which moto lacks: it refuses an unsigned or GET request and answers, in Prometheus's shape,
  the vector a test registered for a selector the query contains (`STATE.promql_answer`), an
  empty vector otherwise. It evaluates no PromQL: tests/observability runs every expression
  on a real Prometheus.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from typing import Any

import moto.applicationautoscaling.models as autoscaling_models
import moto.cloudwatch.urls as cloudwatch_urls
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.core.utils import utcnow
from moto.s3.models import s3_backends
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

ASYNC_DELAY_S = 0.3  # the answer is not there at once: the caller's wait is exercised
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HostingState:
    def __init__(self) -> None:
        self.containers: dict[str, str] = {}  # endpoint name -> base URL of a real server
        self.component_scripts: dict[str, list[str]] = defaultdict(list)
        self.component_calls: list[dict[str, Any]] = []  # Create/UpdateInferenceComponent
        self.async_calls: list[dict[str, str]] = []  # InvokeEndpointAsync, headers as sent
        self.async_done = threading.Event()
        self.promql: list[tuple[str, list[dict[str, Any]]]] = []  # (selector, vector)
        self.promql_calls: list[dict[str, str]] = []  # the form of each query

    def promql_answer(self, selector: str, series: dict[str, float], label: str) -> None:
        """Answer queries over `selector` with one sample per `label` value."""
        vector = [{"metric": {label: key}, "value": [time.time(), str(value)]}
                  for key, value in series.items()]  # fmt: skip
        self.promql.append((selector, vector))

    def component(self, name: str, *steps: str) -> None:
        self.component_scripts[name] = list(steps)

    def clear(self) -> None:
        self.containers.clear()
        self.component_scripts.clear()
        self.component_calls.clear()
        self.async_calls.clear()
        self.promql.clear()
        self.promql_calls.clear()
        self.async_done.clear()


STATE = HostingState()


def _components(backend: Any) -> dict[str, dict[str, Any]]:
    store: dict[str, dict[str, Any]] = backend.__dict__.setdefault("inference_components", {})
    return store


def _not_found(backend: Any, name: str) -> ValidationError:
    arn = f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:inference-component/{name}"
    return ValidationError(message=f"Could not find inference component '{arn}'.")


def _create_component(self: Any) -> dict[str, Any]:
    backend, params = self.sagemaker_backend, dict(self._get_params())
    STATE.component_calls.append({"Action": "CreateInferenceComponent", **params})
    name, endpoint_name = params["InferenceComponentName"], params["EndpointName"]
    if name in _components(backend):
        raise ValidationError(message=f"Cannot create already existing inference component {name}.")
    endpoint = backend.describe_endpoint(endpoint_name)  # ValidationError when missing
    config = backend.describe_endpoint_config(endpoint["EndpointConfigName"])
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    variant = variants.get(params["VariantName"])
    if variant is None or "ModelName" in variant or "InstanceType" not in variant:
        raise ValidationError(
            message=f"Variant {params['VariantName']} of endpoint {endpoint_name} has no "
            "instance capacity for inference components."
        )
    backend.describe_model(params["Specification"]["ModelName"])  # ValidationError when missing
    now = utcnow()
    steps = STATE.component_scripts.pop(name, [])
    _components(backend)[name] = {
        "InferenceComponentName": name,
        "InferenceComponentArn": (
            f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:inference-component/{name}"
        ),
        "EndpointName": endpoint_name,
        "EndpointArn": endpoint["EndpointArn"],
        "VariantName": params["VariantName"],
        "Specification": params["Specification"],
        "RuntimeConfig": {
            "DesiredCopyCount": params["RuntimeConfig"]["CopyCount"],
            "CurrentCopyCount": params["RuntimeConfig"]["CopyCount"],
        },
        "CreationTime": now,
        "LastModifiedTime": now,
        "InferenceComponentStatus": "Creating" if steps else "InService",
        "steps": steps,
    }
    return {"InferenceComponentArn": _components(backend)[name]["InferenceComponentArn"]}


def _described(component: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in component.items() if key != "steps"}


def _describe_component(self: Any) -> dict[str, Any]:
    backend = self.sagemaker_backend
    name = self._get_param("InferenceComponentName")
    component = _components(backend).get(name)
    if component is None:
        raise _not_found(backend, name)
    if component["steps"]:
        status, _, reason = component["steps"].pop(0).partition(":")
        component["InferenceComponentStatus"] = status
        if reason:
            component["FailureReason"] = reason
    return _described(component)


def _update_component(self: Any) -> dict[str, Any]:
    backend, params = self.sagemaker_backend, dict(self._get_params())
    STATE.component_calls.append({"Action": "UpdateInferenceComponent", **params})
    name = params["InferenceComponentName"]
    component = _components(backend).get(name)
    if component is None:
        raise _not_found(backend, name)
    if "Specification" in params:
        backend.describe_model(params["Specification"]["ModelName"])
        component["Specification"] = params["Specification"]
    if "RuntimeConfig" in params:
        copies = params["RuntimeConfig"]["CopyCount"]
        component["RuntimeConfig"] = {"DesiredCopyCount": copies, "CurrentCopyCount": copies}
    component["steps"] = STATE.component_scripts.pop(name, [])
    component["InferenceComponentStatus"] = "Updating" if component["steps"] else "InService"
    component["LastModifiedTime"] = utcnow()
    return {"InferenceComponentArn": component["InferenceComponentArn"]}


def _list_components(self: Any) -> dict[str, Any]:
    endpoint = self._get_param("EndpointNameEquals")
    summaries = [
        {
            key: component[key]
            for key in (
                "InferenceComponentName",
                "InferenceComponentArn",
                "EndpointName",
                "EndpointArn",
                "VariantName",
                "InferenceComponentStatus",
                "CreationTime",
                "LastModifiedTime",
            )
        }
        for component in _components(self.sagemaker_backend).values()
        if endpoint is None or component["EndpointName"] == endpoint
    ]
    return {"InferenceComponents": summaries}


def _delete_component(self: Any) -> dict[str, Any]:
    backend = self.sagemaker_backend
    name = self._get_param("InferenceComponentName")
    if _components(backend).pop(name, None) is None:
        raise _not_found(backend, name)
    return {}


def _action(handler: Any) -> Any:
    from moto.core.responses import ActionResult

    def action(self: Any) -> ActionResult:
        return ActionResult(handler(self))

    return action


# InvokeEndpointAsync -------------------------------------------------------------------------


def _s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _answer_later(account: str, request: dict[str, str], output: str, failure: str) -> None:
    """What the endpoint's queue does: run the input through the container, write S3."""
    time.sleep(ASYNC_DELAY_S)
    s3 = s3_backends[account]["aws"]
    try:
        bucket, key = _s3_location(request["InputLocation"])
        stored = s3.get_object(bucket, key)
        if stored is None:
            raise RuntimeError(f"no input object at {request['InputLocation']}")
        body = stored.value
        url = STATE.containers.get(request["EndpointName"])
        if url is None:
            raise RuntimeError(f"no container registered for {request['EndpointName']}")
        call = urllib.request.Request(
            f"{url}/invocations",
            data=body,
            headers={"Content-Type": request["ContentType"], "Accept": request["Accept"]},
        )
        try:
            with _OPENER.open(call, timeout=120) as response:
                bucket, key = _s3_location(output)
                s3.put_object(bucket, key, response.read())
        except urllib.error.HTTPError as error:
            reason = error.read().decode("utf-8", "replace")
            bucket, key = _s3_location(failure)
            s3.put_object(bucket, key, f"Received client error ({error.code}): {reason}".encode())
    except Exception as exc:  # the failure object says what went wrong, as SageMaker's does
        bucket, key = _s3_location(failure)
        s3.put_object(bucket, key, f"stand-in could not run the request: {exc}".encode())
    finally:
        STATE.async_done.set()


def _invoke_endpoint_async(self: Any) -> tuple[int, dict[str, str], str]:
    endpoint = self.path.split("/")[2]
    headers = {key.lower(): value for key, value in self.headers.items()}
    request = {
        "EndpointName": endpoint,
        "InputLocation": headers.get("x-amzn-sagemaker-inputlocation", ""),
        "ContentType": headers.get("x-amzn-sagemaker-content-type", "application/octet-stream"),
        "Accept": headers.get("x-amzn-sagemaker-accept", "*/*"),
        "InvocationTimeoutSeconds": headers.get("x-amzn-sagemaker-invocationtimeoutseconds", ""),
    }
    STATE.async_calls.append(request)
    backend = sagemaker_backends[self.current_account][self.region]
    try:
        described = backend.describe_endpoint(endpoint)
        config = backend.describe_endpoint_config(described["EndpointConfigName"])
    except ValidationError as error:
        return 400, {}, json.dumps({"__type": "ValidationError", "message": error.message})
    output_config = (config.get("AsyncInferenceConfig") or {}).get("OutputConfig")
    if not output_config:
        message = f"Endpoint {endpoint} is not configured for asynchronous inference."
        return 400, {}, json.dumps({"__type": "ValidationError", "message": message})
    inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
    output = f"{output_config['S3OutputPath'].rstrip('/')}/{inference_id}.out"
    failure_path = output_config.get("S3FailurePath", output_config["S3OutputPath"])
    failure = f"{failure_path.rstrip('/')}/{inference_id}-error.out"
    threading.Thread(
        target=_answer_later, args=(self.current_account, request, output, failure), daemon=True
    ).start()
    locations = {
        "X-Amzn-SageMaker-OutputLocation": output,
        "X-Amzn-SageMaker-FailureLocation": failure,
    }
    return 202, locations, json.dumps({"InferenceId": inference_id})


# Install --------------------------------------------------------------------------------------

COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"


def _promql_query(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """CloudWatch's `/api/v1/query`, as far as the CLI's calls need it (module docstring)."""
    authorization = str(headers.get("Authorization", ""))
    if request.method != "POST" or "/monitoring/aws4_request" not in authorization:
        return 403, {}, json.dumps({"status": "error", "errorType": "forbidden",
                                    "error": "SigV4 (service monitoring) POST required"})  # fmt: skip
    form = urllib.parse.parse_qs(request.get_data(as_text=True))
    query = form.get("query", [""])[0]
    STATE.promql_calls.append({"query": query, "time": form.get("time", [""])[0]})
    result = next((vector for selector, vector in STATE.promql if selector in query), [])
    body = {"status": "success", "data": {"resultType": "vector", "result": result}}
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


def install() -> list[tuple[Any, str, Any]]:
    """Patch; returns what to restore (None: an attribute to remove)."""
    saved: list[tuple[Any, str, Any]] = [
        (SageMakerRuntimeResponse, "invoke_endpoint_async", SageMakerRuntimeResponse.invoke_endpoint_async),
        (SageMakerModelBackend, "delete_endpoint", SageMakerModelBackend.delete_endpoint),
        (autoscaling_models, "_target_params_are_valid", autoscaling_models._target_params_are_valid),
        (SageMakerModelBackend, "validate_production_variants", SageMakerModelBackend.validate_production_variants),
        (ApplicationAutoScalingResponse, "_validate_params", ApplicationAutoScalingResponse._validate_params),
        (cloudwatch_urls, "url_paths", dict(cloudwatch_urls.url_paths)),
    ]  # fmt: skip
    cloudwatch_urls.url_paths["{0}/api/v1/query$"] = _promql_query
    delete_endpoint, valid_target, validate_variants, validate_params = (s[2] for s in saved[1:5])

    def validate_autoscaling_params(self: Any) -> None:
        if self._get_param("ScalableDimension") != COPY_DIMENSION:
            validate_params(self)

    def validate_production_variants(self: Any, variants: list[dict[str, Any]]) -> None:
        # A variant of instance capacity for inference components names no model.
        validate_variants(self, [v for v in variants if "ModelName" in v])

    def guarded_delete_endpoint(self: Any, endpoint_name: str) -> None:
        hosted = [c for c in _components(self).values() if c["EndpointName"] == endpoint_name]
        if hosted:
            raise ValidationError(
                message=f"Endpoint {endpoint_name} still hosts inference components "
                f"({hosted[0]['InferenceComponentName']}); delete them first."
            )
        delete_endpoint(self, endpoint_name)

    def target_params_are_valid(namespace: str, r_id: str, dimension: str) -> bool:
        if dimension == COPY_DIMENSION and namespace == "sagemaker":
            return r_id.startswith("inference-component/")
        return bool(valid_target(namespace, r_id, dimension))

    SageMakerRuntimeResponse.invoke_endpoint_async = _invoke_endpoint_async  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = guarded_delete_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.validate_production_variants = validate_production_variants  # type: ignore[method-assign,assignment]
    autoscaling_models._target_params_are_valid = target_params_are_valid
    ApplicationAutoScalingResponse._validate_params = validate_autoscaling_params  # type: ignore[method-assign]
    for name, handler in (
        ("create_inference_component", _create_component),
        ("describe_inference_component", _describe_component),
        ("update_inference_component", _update_component),
        ("list_inference_components", _list_components),
        ("delete_inference_component", _delete_component),
    ):
        setattr(SageMakerResponse, name, _action(handler))
        saved.append((SageMakerResponse, name, None))
    return saved
