"""Invoke an asynchronous endpoint: the input goes to S3, `InvokeEndpointAsync` queues it, and
the answer appears later as an S3 object (or, when the model failed, a failure object).

SageMaker writes `<S3OutputPath>/<inference id>.out` or `<S3FailurePath>/<inference id>-error.out`
and returns both locations at once; we poll both until one exists.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from deploy.aws import Aws
from deploy.config import split_s3_uri
from deploy.errors import DeployError
from deploy.hosting_modes import ASYNC_MAX_SECONDS
from deploy.storage import ABSENT
from deploy.waiting import Poll


@dataclass(frozen=True)
class AsyncRequest:
    endpoint: str
    input_file: Path
    bucket: str
    prefix: str
    content_type: str
    accept: str
    kms_key_id: str | None = None
    invocation_timeout_s: int = ASYNC_MAX_SECONDS


@dataclass(frozen=True)
class AsyncAnswer:
    inference_id: str
    input_uri: str
    output_uri: str
    body: bytes
    queued_s: float  # from InvokeEndpointAsync to the answer object


def input_key(prefix: str, endpoint: str, name: str) -> str:
    """Where the input goes: under our prefix, one object per call (never overwritten)."""
    return f"{prefix.strip('/')}/async-input/{endpoint}/{uuid.uuid4().hex}-{name}"


def upload(aws: Aws, request: AsyncRequest, console: Console) -> str:
    key = input_key(request.prefix, request.endpoint, request.input_file.name)
    extra: dict[str, str] = {"ContentType": request.content_type, "ServerSideEncryption": "AES256"}
    if request.kms_key_id:
        extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": request.kms_key_id}
    size = request.input_file.stat().st_size
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("uploading the input", total=size)
        aws.s3.upload_file(
            str(request.input_file),
            request.bucket,
            key,
            ExtraArgs=extra,
            Callback=lambda sent: progress.advance(task, sent),
        )
    return f"s3://{request.bucket}/{key}"


def _exists(aws: Aws, uri: str) -> bool:
    bucket, key = split_s3_uri(uri)
    try:
        aws.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ABSENT:  # 403 too: see ABSENT
            return False
        raise
    return True


def _read(aws: Aws, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    return bytes(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def invoke(aws: Aws, request: AsyncRequest, poll: Poll, console: Console) -> AsyncAnswer:
    """Upload, queue, wait for the answer (progress on a terminal, plain lines otherwise)."""
    input_uri = upload(aws, request, console)
    console.print(f"input: {input_uri} ({request.input_file.stat().st_size:,} bytes)", markup=False)
    response = aws.runtime.invoke_endpoint_async(
        EndpointName=request.endpoint,
        InputLocation=input_uri,
        ContentType=request.content_type,
        Accept=request.accept,
        InvocationTimeoutSeconds=request.invocation_timeout_s,
    )
    inference_id = str(response["InferenceId"])
    output, failure = str(response["OutputLocation"]), response.get("FailureLocation")
    console.print(f"queued as {inference_id}; the answer will be {output}", markup=False)
    started = time.monotonic()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("waiting for the answer (queued, then running)", total=None)
        while True:
            if _exists(aws, output):
                break
            if failure and _exists(aws, str(failure)):
                reason = _read(aws, str(failure)).decode("utf-8", errors="replace").strip()
                raise DeployError(
                    f"inference {inference_id} failed after {time.monotonic() - started:.0f} s: "
                    f"{reason[:500] or 'no reason given'} ({failure}; CloudWatch logs: "
                    f"/aws/sagemaker/Endpoints/{request.endpoint})"
                )
            elapsed = time.monotonic() - started
            if elapsed >= poll.timeout_s:
                raise DeployError(
                    f"no answer for {inference_id} after {poll.timeout_s:.0f} s; it may still "
                    f"come: {output} (raise --timeout to wait longer)"
                )
            progress.update(task, description=f"waiting for {output}")
            time.sleep(poll.interval_s)
    queued = time.monotonic() - started
    return AsyncAnswer(inference_id, input_uri, output, _read(aws, output), queued)
