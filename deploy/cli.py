"""`python -m deploy`: from a trained artifact to a live SageMaker endpoint, and back."""

from __future__ import annotations

import typer

from deploy.commands import mme, models, operate, release, shadow, traffic
from deploy.commands import pipeline as training_pipeline
from deploy.public_api import commands as public_api

app = typer.Typer(
    name="deploy",
    help="Deploy the headline classifier to Amazon SageMaker (ECR, S3, endpoints, batch).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for command in (
    release.push,
    release.upload,
    models.register,
    models.approve,
    release.deploy,
    release.rollback,
    traffic.variants,
    traffic.traffic,
    shadow.shadow,
    shadow.promote,
    shadow.stop_shadow,
    shadow.shadow_report,
    operate.autoscale,
    operate.status,
    operate.invoke,
    public_api.expose,
    public_api.unexpose,
    models.transform,
    operate.delete,
):
    app.command()(command)
app.add_typer(training_pipeline.app)
app.add_typer(mme.app)


def main() -> None:
    app()
