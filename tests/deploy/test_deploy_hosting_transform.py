"""`transform` at scale: join to the input, filters, split and strategy, payload checks; and the
answers a real server gives to what such a job sends, joined back as SageMaker would."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import BUCKET, IMAGE, Cloud, run_cli

from deploy import transform as batch


def _transform(artifact: Path, *extra: str) -> Any:
    result = run_cli(
        "transform", "--input", f"s3://{BUCKET}/batch/in/", "--artifact", str(artifact),
        "--image", IMAGE, "--poll-interval", "0.01", *extra,
    )  # fmt: skip
    return result


def _job(cloud: Cloud) -> dict[str, Any]:
    sm = cloud.client("sagemaker")
    [summary] = sm.list_transform_jobs()["TransformJobSummaries"]
    return dict(sm.describe_transform_job(TransformJobName=summary["TransformJobName"]))


def test_csv_with_an_id_column_joins_answers_back_to_their_ids(
    cloud: Cloud, artifact: Path
) -> None:
    result = _transform(
        artifact, "--format", "csv", "--input-filter", "$[1]", "--join-source", "Input",
        "--output-filter", "$[0,-2:]",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    job = _job(cloud)
    assert job["DataProcessing"] == {
        "InputFilter": "$[1]",
        "OutputFilter": "$[0,-2:]",
        "JoinSource": "Input",
    }
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformOutput"]["Accept"] == "text/csv"
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    assert job["BatchStrategy"] == "MultiRecord"
    assert "MaxPayloadInMB" not in job  # the server's /execution-parameters decide: 6


def test_json_lines_with_other_fields_need_no_input_filter(cloud: Cloud, artifact: Path) -> None:
    result = _transform(
        artifact, "--join-source", "Input", "--output-filter", "$['id','SageMakerOutput']",
        "--max-payload-mb", "6", "--max-concurrent", "8",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    job = _job(cloud)
    assert job["DataProcessing"] == {
        "OutputFilter": "$['id','SageMakerOutput']",
        "JoinSource": "Input",
    }
    assert (job["MaxPayloadInMB"], job["MaxConcurrentTransforms"]) == (6, 8)


def test_single_records_without_splitting(cloud: Cloud, artifact: Path) -> None:
    result = _transform(artifact, "--split-type", "None", "--batch-strategy", "SingleRecord")
    assert result.exit_code == 0, result.output
    job = _job(cloud)
    assert (job["TransformInput"]["SplitType"], job["BatchStrategy"]) == ("None", "SingleRecord")
    assert "DataProcessing" not in job


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--join-source", "Input", "--split-type", "None", "--batch-strategy", "SingleRecord"),
         "--join-source Input needs --split-type Line"),
        (("--split-type", "None"), "MultiRecord needs --split-type Line"),
        (("--input-filter", "[1]"), "must be a JSONPath"),
        (("--output-filter", "$" + "x" * 63), "at most 63 characters"),
        (("--max-payload-mb", "101"), "--max-payload-mb must be 1-100"),
        (("--max-payload-mb", "30", "--max-concurrent", "4"), "at most 100"),
        (("--batch-strategy", "Batched"), "--batch-strategy must be one of"),
        (("--join-source", "Output"), "--join-source must be one of"),
    ],
)  # fmt: skip
def test_bad_job_settings_are_refused_before_any_call(
    cloud: Cloud, artifact: Path, flags: tuple[str, ...], message: str
) -> None:
    result = _transform(artifact, *flags)
    assert result.exit_code == 2
    assert message in result.stderr
    assert cloud.client("sagemaker").list_models()["Models"] == []


# What the job sends, through a real server -------------------------------------------------

HEADLINES = [
    "Stocks rally as the central bank holds rates",
    'Cup final, in extra time, goes to "penalties"',
    "New chip doubles battery life",
]


def _post(url: str, body: bytes, media: str) -> bytes:
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": media, "Accept": media}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=120) as response:
        return bytes(response.read())


def _records(count: int) -> list[tuple[str, str]]:
    """(id, text) pairs: more than 1 MiB of them, so the server streams its answer."""
    return [(f"id-{i}", f"{HEADLINES[i % 3]} {i}") for i in range(count)]


@pytest.mark.slow
def test_csv_mini_batch_answers_join_to_id_label_score(serving_container: str) -> None:
    """`$[1]` sends the text column; the server answers one CSV row per record; joined to the
    input and filtered with `$[0,-2:]` each row is the record's id, label and score."""
    records = _records(30_000)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([text] for _, text in records)  # $[1]
    sent = out.getvalue().encode()
    assert len(sent) > 1024 * 1024 and len(sent) < batch.MAX_PAYLOAD_MB * 2**20
    answers = list(csv.reader(io.StringIO(_post(serving_container, sent, "text/csv").decode())))
    assert len(answers) == len(records)
    joined = [[rid, text, *answer] for (rid, text), answer in zip(records, answers, strict=True)]
    kept = [[row[0], *row[-2:]] for row in joined]  # $[0,-2:]
    assert [row[0] for row in kept] == [rid for rid, _ in records]
    assert all(row[1] != "ERROR" and 0 <= float(row[2]) <= 1 for row in kept)


@pytest.mark.slow
def test_json_lines_records_with_ids_are_answered_one_line_each(serving_container: str) -> None:
    records = [{"id": rid, "inputs": text, "source": "wire"} for rid, text in _records(20_000)]
    sent = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert len(sent) > 1024 * 1024
    lines = _post(serving_container, sent, "application/jsonlines").decode().splitlines()
    answers = [json.loads(line) for line in lines]
    assert len(answers) == len(records)
    assert all("error" not in a and isinstance(a["label"], str) for a in answers)
    # JoinSource=Input puts each answer under SageMakerOutput beside the record's own fields.
    joined = [{**r, "SageMakerOutput": a} for r, a in zip(records, answers, strict=True)]
    assert [j["id"] for j in joined] == [r["id"] for r in records]
