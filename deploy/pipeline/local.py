"""Run the pipeline's definition here: each step's container under Docker, S3 and the model
registry through boto3 (moto's server in the tests, or a real account).

This interprets the same definition JSON `upsert` sends to SageMaker (the SDK's local mode
is not available: its packages do not install with our pins). Per step type:

- Processing: inputs downloaded from S3 into folders mounted at their LocalPath, the
  container run with the step's entrypoint and arguments, outputs uploaded from their
  LocalPath; /opt/ml/output/message is the job's ExitMessage.
- Training: /opt/ml laid out as a training job sees it (hyperparameters.json, one folder per
  channel), `train` run, /opt/ml/model packed as model.tar.gz to S3OutputPath/JOB/output/;
  the metric definitions' regexes read the log as SageMaker does (the last match wins);
  /opt/ml/output/failure is the FailureReason.
- Condition: every condition evaluated, then its IfSteps or ElseSteps run.
- RegisterModel: CreateModelPackage with the resolved arguments.
- Fail: the execution fails with the step's resolved ErrorMessage.

Steps run one at a time in dependency order; the first failure ends the execution, as in
SageMaker, where nothing downstream of a failed step starts.
"""

from __future__ import annotations

import json
import re
import secrets
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.aws import Aws
from deploy.errors import DeployError
from deploy.pipeline.containers import Container, ContainerRunner
from deploy.pipeline.expressions import Resolver, step_references

ACCOUNT = "000000000000"  # ARNs of local jobs: no account runs them
S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$")


class StepFailed(Exception):
    """A step ended in failure; the message is its FailureReason."""


@dataclass
class StepRecord:
    name: str
    type: str
    start: datetime
    status: str = "Executing"
    end: datetime | None = None
    failure_reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """PipelineExecutionStepSummary's shape (ListPipelineExecutionSteps)."""
        out: dict[str, Any] = {
            "StepName": self.name,
            "StartTime": self.start,
            "StepStatus": self.status,
            "Metadata": self.metadata,
        }
        if self.end:
            out["EndTime"] = self.end
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out


@dataclass
class LocalExecution:
    execution_id: str
    parameters: dict[str, Any]
    status: str = "Executing"
    failure_reason: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)


def parse_s3(uri: str) -> tuple[str, str]:
    match = S3_URI.match(uri)
    if not match:
        raise DeployError(f"{uri!r} is not an s3:// URI")
    return match.group(1), match.group(2)


def _now() -> datetime:
    return datetime.now(UTC)


def typed_parameters(definition: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Defaults, then overrides converted to each parameter's type."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise DeployError(
            f"unknown pipeline parameter {unknown[0]!r} (known: {', '.join(sorted(declared))})"
        )
    values: dict[str, Any] = {name: p.get("DefaultValue") for name, p in declared.items()}
    casts: dict[str, Callable[[str], Any]] = {"Integer": int, "Float": float, "String": str}
    for name, text in overrides.items():
        kind = declared[name]["Type"]
        try:
            values[name] = casts[kind](text)
        except (KeyError, ValueError) as exc:
            raise DeployError(f"parameter {name}={text!r}: not a {kind}") from exc
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise DeployError(f"parameter {missing[0]} has no default: give it a value")
    return values


def run_order(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top-level steps in dependency order (data references and DependsOn)."""
    names = {step["Name"] for step in steps}
    needs = {
        step["Name"]: (step_references(step.get("Arguments")) | set(step.get("DependsOn", [])))
        & names
        for step in steps
    }
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for s in steps if s["Name"] not in done and needs[s["Name"]] <= done]
        if not ready:
            raise DeployError("the pipeline's steps depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0]["Name"])
    return ordered


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
    "LessThan": lambda a, b: a < b,
    "Equals": lambda a, b: a == b,
}


class LocalPipeline:
    def __init__(
        self,
        definition: dict[str, Any],
        pipeline_name: str,
        aws: Aws,
        runner: ContainerRunner,
        workdir: Path,
        on_step: Callable[[StepRecord], None] = lambda record: None,
    ) -> None:
        self.definition = definition
        self.pipeline_name = pipeline_name
        self.aws = aws
        self.runner = runner
        self.workdir = workdir
        self.on_step = on_step
        self.region = aws.region
        self.property_files: dict[tuple[str, str], Any] = {}

    def run(self, overrides: dict[str, str]) -> LocalExecution:
        execution = LocalExecution(
            execution_id=secrets.token_hex(6),
            parameters=typed_parameters(self.definition, overrides),
        )
        started = _now()
        self.resolve = Resolver(
            execution.parameters,
            {
                "PipelineExecutionId": execution.execution_id,
                "PipelineName": self.pipeline_name,
                "PipelineExecutionArn": f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:pipeline/"
                f"{self.pipeline_name}/execution/{execution.execution_id}",
                "StartDateTime": started.isoformat(),
                "CurrentDateTime": started.isoformat(),
            },
            execution.properties,
            lambda step, name: self.property_files[(step, name)],
        )
        try:
            for step in run_order(self.definition["Steps"]):
                self._step(step, execution)
        except StepFailed as failed:
            execution.status, execution.failure_reason = "Failed", str(failed)
            return execution
        execution.status = "Succeeded"
        return execution

    def _step(self, step: dict[str, Any], execution: LocalExecution) -> None:
        record = StepRecord(step["Name"], step["Type"], _now())
        execution.steps.append(record)
        self.on_step(record)
        handlers = {
            "Processing": self._processing,
            "Training": self._training,
            "Condition": self._condition,
            "RegisterModel": self._register,
            "Fail": self._fail,
        }
        if step["Type"] not in handlers:
            raise DeployError(f"step {step['Name']}: type {step['Type']} does not run locally")
        branch: list[dict[str, Any]] = []
        try:
            outcome = handlers[step["Type"]](step, record, execution)
            if step["Type"] == "Condition":
                branch = step["Arguments"]["IfSteps" if outcome else "ElseSteps"]
        except StepFailed as failed:
            record.status, record.failure_reason, record.end = "Failed", str(failed), _now()
            self.on_step(record)
            raise
        record.status, record.end = "Succeeded", _now()
        self.on_step(record)
        for inner in branch:
            self._step(inner, execution)

    def _job_name(self, step: str, execution: LocalExecution) -> str:
        return f"pipelines-{execution.execution_id}-{step}"[:63]

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/{name.lower()}"

    # --- S3 -------------------------------------------------------------------------------

    def _download(self, uri: str, into: Path) -> None:
        """S3Prefix semantics: every object under the prefix, paths relative to it."""
        bucket, key = parse_s3(uri)
        pages = self.aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        found = [item["Key"] for page in pages for item in page.get("Contents", [])]
        if not found:
            raise StepFailed(f"ClientError: no S3 objects at {uri}")
        into.mkdir(parents=True, exist_ok=True)
        for object_key in found:
            relative = object_key[len(key) :].lstrip("/") or object_key.rsplit("/", 1)[-1]
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self.aws.s3.download_file(bucket, object_key, str(target))

    def _upload(self, directory: Path, uri: str) -> None:
        bucket, key = parse_s3(uri)
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            relative = path.relative_to(directory).as_posix()
            self.aws.s3.upload_file(str(path), bucket, f"{key.rstrip('/')}/{relative}")

    # --- steps ----------------------------------------------------------------------------

    def _processing(self, step: dict[str, Any], record: StepRecord, run: LocalExecution) -> None:
        args = self.resolve(step["Arguments"])
        name = self._job_name(step["Name"], run)
        record.metadata = {"ProcessingJob": {"Arn": self._arn("processing-job", name)}}
        job = self.workdir / name
        mounts: list[tuple[Path, str]] = [(job / "output", "/opt/ml/output")]
        for item in args.get("ProcessingInputs", []):
            local = job / "inputs" / item["InputName"]
            self._download(item["S3Input"]["S3Uri"], local)
            mounts.append((local, item["S3Input"]["LocalPath"]))
        outputs = args["ProcessingOutputConfig"]["Outputs"]
        for item in outputs:
            local = job / "outputs" / item["OutputName"]
            local.mkdir(parents=True, exist_ok=True)
            mounts.append((local, item["S3Output"]["LocalPath"]))
        (job / "output").mkdir(parents=True, exist_ok=True)
        app = args["AppSpecification"]
        entrypoint = list(app.get("ContainerEntrypoint", []))
        code = self.runner.run(
            Container(
                image=app["ImageUri"],
                command=[*entrypoint[1:], *app.get("ContainerArguments", [])],
                mounts=mounts,
                entrypoint=entrypoint[0] if entrypoint else None,
                name=name,
            ),
            job / "log.txt",
        )
        message = job / "output" / "message"
        exit_message = (
            message.read_text(encoding="utf-8")[:1024].strip() if message.exists() else ""
        )
        if code != 0:
            raise StepFailed(f"AlgorithmError: {exit_message or _last_line(job / 'log.txt', code)}")
        for item in outputs:
            self._upload(job / "outputs" / item["OutputName"], item["S3Output"]["S3Uri"])
        for spec in step.get("PropertyFiles", []):
            path = job / "outputs" / spec["OutputName"] / spec["FilePath"]
            self.property_files[(step["Name"], spec["PropertyFileName"])] = json.loads(
                path.read_text(encoding="utf-8")
            )
        run.properties[step["Name"]] = {
            "ProcessingJobName": name,
            "ProcessingJobArn": self._arn("processing-job", name),
            "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": args["ProcessingOutputConfig"],
            "ExitMessage": exit_message,
        }

    def _training(self, step: dict[str, Any], record: StepRecord, run: LocalExecution) -> None:
        args = self.resolve(step["Arguments"])
        name = self._job_name(step["Name"], run)
        record.metadata = {"TrainingJob": {"Arn": self._arn("training-job", name)}}
        root = self.workdir / name / "ml"
        config = root / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(
            json.dumps(args.get("HyperParameters", {})), encoding="utf-8"
        )
        for channel in args.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]["S3Uri"]
            self._download(source, root / "input" / "data" / channel["ChannelName"])
        for folder in ("model", "output"):
            (root / folder).mkdir()
        log = self.workdir / name / "log.txt"
        code = self.runner.run(
            Container(
                image=args["AlgorithmSpecification"]["TrainingImage"],
                command=["train"],
                mounts=[(root, "/opt/ml")],
                name=name,
            ),
            log,
        )
        failure = root / "output" / "failure"
        if code != 0:
            reason = failure.read_text(encoding="utf-8").strip() if failure.exists() else ""
            raise StepFailed(f"AlgorithmError: {reason or _last_line(log, code)}")
        archive = self.workdir / name / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted((root / "model").iterdir()):
                tar.add(path, arcname=path.name)
        model_uri = (
            f"{args['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{name}/output/model.tar.gz"
        )
        bucket, key = parse_s3(model_uri)
        self.aws.s3.upload_file(str(archive), bucket, key)
        metrics = final_metrics(
            log.read_text(encoding="utf-8", errors="replace"),
            args["AlgorithmSpecification"].get("MetricDefinitions", []),
        )
        run.properties[step["Name"]] = {
            "TrainingJobName": name,
            "TrainingJobArn": self._arn("training-job", name),
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": model_uri},
            "HyperParameters": args.get("HyperParameters", {}),
            "FinalMetricDataList": metrics,
        }

    def _condition(self, step: dict[str, Any], record: StepRecord, run: LocalExecution) -> bool:
        outcome = all(
            self._holds(condition, step["Name"]) for condition in step["Arguments"]["Conditions"]
        )
        record.metadata = {"Condition": {"Outcome": "True" if outcome else "False"}}
        run.properties[step["Name"]] = {"Outcome": outcome}
        return outcome

    def _holds(self, condition: dict[str, Any], step: str) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self._holds(condition["Expression"], step)
        if kind == "Or":
            return any(self._holds(inner, step) for inner in condition["Conditions"])
        if kind == "In":
            return self.resolve(condition["QueryValue"]) in self.resolve(condition["Values"])
        if kind not in COMPARISONS:
            raise DeployError(f"step {step}: condition type {kind} does not run locally")
        left, right = self.resolve(condition["LeftValue"]), self.resolve(condition["RightValue"])
        return COMPARISONS[kind](left, right)

    def _register(self, step: dict[str, Any], record: StepRecord, run: LocalExecution) -> None:
        args = self.resolve(step["Arguments"])
        arn = str(self.aws.sagemaker.create_model_package(**args)["ModelPackageArn"])
        record.metadata = {"RegisterModel": {"Arn": arn}}
        run.properties[step["Name"]] = {"ModelPackageArn": arn}

    def _fail(self, step: dict[str, Any], record: StepRecord, run: LocalExecution) -> None:
        message = str(self.resolve(step["Arguments"].get("ErrorMessage", "")))
        record.metadata = {"Fail": {"ErrorMessage": message}}
        raise StepFailed(message)


def final_metrics(log: str, definitions: list[dict[str, str]]) -> list[dict[str, Any]]:
    """FinalMetricDataList: each definition's last match in the log, as a float."""
    found = []
    for definition in definitions:
        values = re.findall(definition["Regex"], log)
        if values:
            found.append(
                {"MetricName": definition["Name"], "Value": float(values[-1]), "Timestamp": _now()}
            )
    return found


def _last_line(log: Path, code: int) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"exit code {code}" + (f": {lines[-1].strip()}" if lines else "")
