"""Data capture: the requests and answers SageMaker wrote to S3, read back per variant.

SageMaker writes JSON Lines under `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`,
one record per invocation:

    {"captureData": {"endpointInput": {...}, "endpointOutput": {"observedContentType":
     "application/json", "mode": "OUTPUT", "data": "...", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "..."},
     "eventVersion": "0"}

A shadow variant's copy of a request is captured under the shadow's name with the same
inference id (the caller's `InferenceId`) or event id, which is how its answer is paired with
production's. Only the hours of the window are listed.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deploy.aws import Aws
from deploy.config import split_s3_uri

MAX_RECORDS = 50_000  # per variant: a report, not an export


@dataclass
class Agreement:
    paired: int = 0  # requests answered by both variants
    texts: int = 0  # texts in those requests, compared one by one
    agreeing: int = 0
    unreadable: int = 0  # captured answers we could not read labels from
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # production -> candidate

    @property
    def percent(self) -> float | None:
        return 100 * self.agreeing / self.texts if self.texts else None


def top_label(answer: Any) -> str:
    """The top label of one text's answer: `{"label"}`, a ranked list, or multi-label."""
    if isinstance(answer, list) and answer:
        return top_label(answer[0])
    if isinstance(answer, dict):
        if isinstance(answer.get("label"), str):
            return str(answer["label"])
        if isinstance(answer.get("labels"), list):  # multi-label: the set is the prediction
            return "+".join(sorted(str(label) for label in answer["labels"])) or "(none)"
    raise ValueError(f"no label in {str(answer)[:80]!r}")


def labels_of(output: dict[str, Any]) -> list[str]:
    """Top labels, one per text, from a captured `endpointOutput`."""
    data = str(output.get("data", ""))
    if output.get("encoding") == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
    kind = str(output.get("observedContentType", "application/json")).split(";")[0].strip()
    if kind == "text/csv":
        return [row[0] for row in csv.reader(io.StringIO(data)) if row]
    if kind in {"application/jsonlines", "application/x-jsonlines"}:
        return [top_label(json.loads(line)) for line in data.splitlines() if line.strip()]
    parsed = json.loads(data)
    return [top_label(item) for item in (parsed if isinstance(parsed, list) else [parsed])]


def _hours(start: datetime, end: datetime) -> list[str]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    found = []
    while hour <= end:
        found.append(hour.strftime("%Y/%m/%d/%H/"))
        hour += timedelta(hours=1)
    return found


def records(
    aws: Aws, destination: str, endpoint: str, variant: str, start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """The variant's captured records in the window, keyed by inference id (else event id)."""
    bucket, prefix = split_s3_uri(destination.rstrip("/") + f"/{endpoint}/{variant}/")
    found: dict[str, dict[str, Any]] = {}
    paginator = aws.s3.get_paginator("list_objects_v2")
    for hour in _hours(start, end):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix + hour):
            for item in page.get("Contents", []):
                body = aws.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                for line in body.decode("utf-8").splitlines():
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    meta = record.get("eventMetadata", {})
                    key = meta.get("inferenceId") or meta.get("eventId")
                    if key:
                        found[str(key)] = record
                    if len(found) >= MAX_RECORDS:
                        return found
    return found


def compare(
    production: dict[str, dict[str, Any]], candidate: dict[str, dict[str, Any]]
) -> Agreement:
    """Label agreement over the requests both variants answered, text by text."""
    result = Agreement()
    for key in production.keys() & candidate.keys():
        try:
            ours = labels_of(production[key]["captureData"]["endpointOutput"])
            theirs = labels_of(candidate[key]["captureData"]["endpointOutput"])
        except (KeyError, ValueError, TypeError):
            result.unreadable += 1
            continue
        result.paired += 1
        for before, after in zip(ours, theirs, strict=False):
            result.texts += 1
            if before == after:
                result.agreeing += 1
            else:
                result.changes[(before, after)] += 1
    return result


def capture_config(destination: str, percent: int) -> dict[str, Any]:
    """CreateEndpointConfig's DataCaptureConfig: requests and answers, JSON kept readable."""
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": percent,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "JsonContentTypes": ["application/json"],
            "CsvContentTypes": ["text/csv"],
        },
    }
