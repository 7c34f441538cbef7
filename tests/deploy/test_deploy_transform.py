"""`transform`: a batch job over JSON Lines with the serving image."""

from __future__ import annotations

from pathlib import Path

from deploy_helpers import BUCKET, IMAGE, Cloud, run_cli


def _transform(artifact: Path, *extra: str) -> tuple[int, str, str]:
    result = run_cli(
        "transform", "--input", f"s3://{BUCKET}/batch/in/", "--artifact", str(artifact),
        "--image", IMAGE, "--poll-interval", "0.01", *extra,
    )  # fmt: skip
    return result.exit_code, result.stdout, result.stderr


def test_transform_job_splits_lines_and_leaves_limits_to_the_server(
    cloud: Cloud, artifact: Path
) -> None:
    cloud.scripts.transform("headline-transform", "InProgress", "InProgress", "Completed")
    code, stdout, stderr = _transform(artifact)
    assert code == 0, stderr
    assert "InProgress" in stdout and "Completed" in stdout
    sm = cloud.client("sagemaker")
    [summary] = sm.list_transform_jobs()["TransformJobSummaries"]
    job = sm.describe_transform_job(TransformJobName=summary["TransformJobName"])
    assert job["BatchStrategy"] == "MultiRecord"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["ContentType"] == "application/jsonlines"
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    # Unset so that SageMaker asks the container's GET /execution-parameters.
    assert "MaxConcurrentTransforms" not in job and "MaxPayloadInMB" not in job
    output = f"s3://{BUCKET}/headline-serve/transform/{summary['TransformJobName']}/"
    assert job["TransformOutput"]["S3OutputPath"] == output
    assert output in stdout
    assert sm.list_models()["Models"] == [], "the job's own model is removed when it ends"


def test_failed_transform_job_shows_its_reason(cloud: Cloud, artifact: Path) -> None:
    cloud.scripts.transform(
        "headline-transform", "InProgress", "Failed:ClientError: line 3 is not JSON"
    )
    code, _, stderr = _transform(artifact, "--format", "csv", "--max-payload-mb", "4")
    assert code == 1
    assert "Failed: ClientError: line 3 is not JSON" in stderr
    sm = cloud.client("sagemaker")
    [summary] = sm.list_transform_jobs()["TransformJobSummaries"]
    job = sm.describe_transform_job(TransformJobName=summary["TransformJobName"])
    assert job["MaxPayloadInMB"] == 4
    assert job["TransformInput"]["ContentType"] == "text/csv"
