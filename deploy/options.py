"""What every command shares: option types (flag or environment), the error boundary, output.

Options read `DEPLOY_*` environment variables (region: `AWS_REGION`), and every value is
validated by `deploy.config` before the first AWS call.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from deploy import config
from deploy.aws import Aws
from deploy.errors import ConfigError, DeployError, explain
from deploy.waiting import Poll

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

Region = Annotated[
    str | None,
    typer.Option(envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="AWS region, e.g. eu-west-1."),
]
Profile = Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS named profile.")]
RoleArn = Annotated[
    str | None,
    typer.Option(envvar="DEPLOY_ROLE_ARN", help="SageMaker execution role ARN."),
]
Bucket = Annotated[
    str | None, typer.Option(envvar="DEPLOY_BUCKET", help="S3 bucket for model data.")
]
Prefix = Annotated[
    str, typer.Option(envvar="DEPLOY_PREFIX", help="S3 key prefix for everything we upload.")
]
Repository = Annotated[
    str, typer.Option(envvar="DEPLOY_REPOSITORY", help="ECR repository for the serving image.")
]
Image = Annotated[
    str | None,
    typer.Option(envvar="DEPLOY_IMAGE", help="Serving image URI (printed by `push`)."),
]
RegistryHost = Annotated[
    str | None,
    typer.Option(
        envvar="DEPLOY_REGISTRY_HOST",
        help="Push to this registry host instead of ECR's (a mirror; tests).",
    ),
]
InstanceType = Annotated[
    str, typer.Option(envvar="DEPLOY_INSTANCE_TYPE", help="SageMaker instance type.")
]
Endpoint = Annotated[
    str, typer.Option("--endpoint", envvar="DEPLOY_ENDPOINT", help="Endpoint name.")
]
KmsKey = Annotated[
    str | None,
    typer.Option(envvar="DEPLOY_KMS_KEY_ID", help="KMS key for S3 objects (default: SSE-S3)."),
]
Timeout = Annotated[float, typer.Option(help="Seconds to wait before giving up.")]
PollInterval = Annotated[float, typer.Option(help="Seconds between status checks.")]
Environment = Annotated[
    list[str] | None,
    typer.Option("--env", help="KEY=VALUE for the serving container (repeatable)."),
]

DEFAULT_PREFIX = "headline-serve"
DEFAULT_REPOSITORY = "headline-serve"
DEFAULT_INSTANCE = "ml.c5.xlarge"
DEFAULT_ENDPOINT = "headline-topics"


def connect(region: str | None, profile: str | None = None) -> Aws:
    return Aws(config.region(region), profile)


def poll(timeout: float, interval: float) -> Poll:
    if timeout <= 0 or interval <= 0:
        raise ConfigError("--timeout and --poll-interval must be positive")
    return Poll(interval_s=interval, timeout_s=timeout)


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """The error boundary: one red line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            err.print("[red]interrupted[/red]")
            raise typer.Exit(130) from None
        except ConfigError as exc:
            err.print(f"[red]error:[/red] {escape(explain(exc))}", soft_wrap=True)
            raise typer.Exit(2) from None
        except (DeployError, ClientError, BotoCoreError) as exc:
            err.print(f"[red]error:[/red] {escape(explain(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except Exception as exc:
            if os.environ.get("DEPLOY_DEBUG"):
                raise
            err.print(
                f"[red]unexpected error:[/red] {escape(explain(exc))} (set DEPLOY_DEBUG=1 for details)",
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return run


def show(label: str, value: Any) -> None:
    out.print(f"{label}: [bold]{escape(str(value))}[/bold]", soft_wrap=True)
