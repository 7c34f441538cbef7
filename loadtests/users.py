"""Locust users: one for the server over HTTP (local or Compose), one for a SageMaker endpoint.

Both draw the same traffic and apply the same response checks, so their statistics compare.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from typing import Any

from locust import User, task
from locust.contrib.fasthttp import FastHttpUser

from loadtests.dataset import load_texts
from loadtests.model_mix import ModelSampler, target_model
from loadtests.options import TrafficSettings, traffic_settings
from loadtests.traffic import TrafficGenerator
from loadtests.validation import InvalidResponse, check_predictions, invoked_variant

# The header SageMaker passes TargetModel to a multi-model container in (AWS docs: "Custom
# containers contract for multi-model endpoints"); the server logs it.
TARGET_MODEL_HEADER = "X-Amzn-SageMaker-Target-Model"
# SageMaker real-time endpoints refuse request bodies over 6 MiB.
SAGEMAKER_MAX_PAYLOAD = 6 * 1024 * 1024

_user_numbers = itertools.count()


def _traffic(settings: TrafficSettings) -> tuple[TrafficGenerator, ModelSampler | None]:
    """The user's request draws, and its model draws for a multi-model run (own seeds)."""
    seed = None if settings.seed is None else settings.seed + next(_user_numbers)
    traffic = TrafficGenerator(
        load_texts(settings.dataset, settings.text_column),
        settings.mix,
        settings.batch_min,
        settings.batch_max,
        random.Random(seed),
    )
    models = None
    if settings.models is not None:
        models = settings.models.sampler(random.Random(None if seed is None else -seed - 1))
    return traffic, models


class InvocationsUser(FastHttpUser):
    """POST /invocations on a server speaking the SageMaker container contract (pass -H URL);
    with --models N, POST /models/NAME/invoke with the multi-model contract's target header."""

    connection_timeout = 10.0
    network_timeout = 65.0  # SageMaker allows 60 s per invocation; the server answers 504 before

    def on_start(self) -> None:
        self.settings = traffic_settings(self.environment.parsed_options)
        self.traffic, self.models = _traffic(self.settings)

    def wait_time(self) -> float:
        return self.settings.think_time

    @task
    def invoke(self) -> None:
        call = self.traffic.next()
        headers = {"Content-Type": call.content_type, "Accept": "application/json"}
        path, name = "/invocations", call.name
        context = {"texts": len(call.texts), "model": ""}
        if self.models is not None:
            # One Locust entry per kind, as for one model; the per-model table splits by model.
            model = self.models.next()
            path, name = f"/models/{model}/invoke", f"/models/*/invoke {call.kind}"
            context = {"texts": len(call.texts), "model": model}
            headers[TARGET_MODEL_HEADER] = target_model(model)
        client: Any = self.client  # FastHttpSession accepts bytes; its annotation says str
        with client.post(
            path,
            data=call.body,
            headers=headers,
            name=name,
            catch_response=True,
            context=context,
        ) as response:
            try:
                check_predictions(
                    response.status_code, response.content, len(call.texts), self.settings.labels
                )
            except InvalidResponse as error:
                response.failure(str(error))
            else:
                response.success()


@functools.lru_cache(maxsize=4)
def runtime_client(region: str | None, endpoint_url: str | None) -> Any:
    """One sagemaker-runtime client per process (thread-safe); no retries, so failures show."""
    # boto is imported here, not at the top: it must come after Locust's gevent patching.
    import boto3
    from botocore.config import Config

    config = Config(
        max_pool_connections=256,
        connect_timeout=10,
        read_timeout=65,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    return boto3.client(
        "sagemaker-runtime", region_name=region, endpoint_url=endpoint_url, config=config
    )


class SageMakerUser(User):
    """invoke_endpoint through boto3 (real SigV4 signing, 6 MiB limit); reported as Locust requests."""

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.settings = traffic_settings(options)
        self.traffic, self.models = _traffic(self.settings)
        self.endpoint_name = options.endpoint_name
        self.runtime = runtime_client(options.region, options.endpoint_url)

    def wait_time(self) -> float:
        return self.settings.think_time

    @task
    def invoke(self) -> None:
        call = self.traffic.next()
        model = self.models.next() if self.models is not None else ""
        started, start_time = time.perf_counter(), time.time()
        outcome, variant = self._invoke(call.content_type, call.body, len(call.texts), model)
        length, error = (outcome, None) if isinstance(outcome, int) else (0, outcome)
        self.environment.events.request.fire(
            request_type="invoke_endpoint",
            name=call.name,
            start_time=start_time,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            response=None,
            context={"texts": len(call.texts), "variant": variant, "model": model},
            exception=error,
        )

    def _invoke(
        self, content_type: str, body: bytes, texts: int, model: str = ""
    ) -> tuple[int | Exception, str]:
        """(bytes received on success, else the error to report in one line; the production
        variant that answered, "" when the answer does not say). `model`: TargetModel's name."""
        from botocore.exceptions import BotoCoreError, ClientError

        if len(body) > SAGEMAKER_MAX_PAYLOAD:
            return InvalidResponse(
                f"body of {len(body)} bytes exceeds SageMaker's 6 MiB limit (not sent)"
            ), ""
        variant = ""
        target = {"TargetModel": target_model(model)} if model else {}
        try:
            answer = self.runtime.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType=content_type,
                Accept="application/json",
                Body=body,
                **target,
            )
            variant = str(answer.get("InvokedProductionVariant") or "")
            payload = answer["Body"].read()
            check_predictions(200, payload, texts, self.settings.labels)
        except ClientError as error:
            headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            details = error.response.get("Error", {})
            return InvalidResponse(
                f"{details.get('Code', 'ClientError')}: {details.get('Message', '')}"[:200]
            ), invoked_variant(headers) or ""
        except (BotoCoreError, InvalidResponse) as error:
            return error, variant
        return len(payload), variant
