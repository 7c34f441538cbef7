"""`invoke`'s flags for the hosting modes (a flag group, see `flag_groups`): `--async --input
FILE` and its asynchronous path (deploy.async_invoke does the calls), and `--component` for an
endpoint of inference components."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from deploy import async_invoke, config
from deploy.aws import Aws
from deploy.errors import ConfigError
from deploy.options import DEFAULT_PREFIX, Bucket, KmsKey, Prefix, out, show
from deploy.waiting import Poll

# What a file's suffix says it holds, when --content-type / --accept keep their JSON default.
BY_SUFFIX = {".jsonl": "application/jsonlines", ".csv": "text/csv"}
JSON = "application/json"


@dataclass(frozen=True)
class HostingInvokeFlags:
    component: Annotated[
        str | None,
        typer.Option(help="Inference component to call (endpoints of `--inference-component`)."),
    ] = None
    asynchronous: Annotated[
        bool,
        typer.Option("--async", help="Asynchronous endpoint: upload --input, wait for the answer."),
    ] = False
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Async: the input file (.jsonl, .csv, .json).")
    ] = None
    save: Annotated[
        Path | None, typer.Option(help="Async: write the answer to this file, not the terminal.")
    ] = None
    bucket: Bucket = None
    prefix: Prefix = DEFAULT_PREFIX
    kms_key_id: KmsKey = None
    wait: Annotated[float, typer.Option(help="Async: seconds to wait for the answer.")] = 3600
    poll_interval: Annotated[
        float, typer.Option(help="Async: seconds between looks for the answer.")
    ] = 2

    def __post_init__(self) -> None:
        if self.component is not None:
            config.resource_name(self.component, "--component")
            if self.asynchronous:
                raise ConfigError("--component: asynchronous endpoints have no components")
        if not self.asynchronous:
            given = [f for f, v in (("--input", self.input_file), ("--save", self.save)) if v]
            if given:
                raise ConfigError(f"{given[0]} goes with --async")
            return
        if self.input_file is None or not self.input_file.is_file():
            raise ConfigError(f"--async needs --input FILE (got {self.input_file})")
        if self.wait <= 0 or self.poll_interval <= 0:
            raise ConfigError("--wait and --poll-interval must be positive")

    def request(self, endpoint: str, content_type: str, accept: str) -> async_invoke.AsyncRequest:
        if self.input_file is None:  # __post_init__ made sure; for the type checker
            raise ConfigError("--async needs --input FILE")
        guessed = BY_SUFFIX.get(self.input_file.suffix.lower(), JSON)
        return async_invoke.AsyncRequest(
            endpoint=endpoint,
            input_file=self.input_file,
            bucket=config.bucket(self.bucket),
            prefix=self.prefix,
            content_type=guessed if content_type == JSON else content_type,
            accept=guessed if accept == JSON else accept,
            kms_key_id=self.kms_key_id,
        )

    def run(self, aws: Aws, request: async_invoke.AsyncRequest) -> None:
        answer = async_invoke.invoke(aws, request, Poll(self.poll_interval, self.wait), out)
        if self.save is not None:
            self.save.write_bytes(answer.body)
            show("answer", f"{self.save} ({len(answer.body):,} bytes)")
        else:
            out.print(answer.body.decode("utf-8", errors="replace"), markup=False, soft_wrap=True)
        show("output", answer.output_uri)
        show("latency", f"{answer.queued_s:.1f} s from queueing to the answer object")
