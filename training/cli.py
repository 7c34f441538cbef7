"""`python -m training train|package`: fine-tune and export, or pack an artifact for S3."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from service.backend.artifact import ArtifactError
from training.base_model import DEFAULT_BASE
from training.data import SAMPLE_DATA
from training.errors import GATE_EXIT_CODE, USAGE_EXIT_CODE, TrainingError
from training.export import INT8_TOLERANCE, CpuChoice, ExportOptions, Fp16Choice
from training.finetune import TrainConfig
from training.logs import quiet_libraries

INT8_TOLERANCE_HELP = (
    "int8 serves on CPU only if it loses at most this much accuracy against fp32 (0.005: half "
    "a point; without labels, the share of texts whose decision differs)."
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Fine-tune a text classifier or export one you have, to ONNX; package the artifact.",
)


@app.command()
def train(
    data: Annotated[
        str,
        typer.Option(
            help="CSV/JSONL/Parquet file, or a Hugging Face dataset NAME[:SPLIT].",
            show_default="the bundled sample headlines",
        ),
    ] = str(SAMPLE_DATA),
    output: Annotated[
        Path, typer.Option(help="Artifact directory to write (replaced whole).")
    ] = Path("artifacts/default"),
    base_model: Annotated[
        str, typer.Option(help="Hub name or local path; the default needs no network.")
    ] = DEFAULT_BASE,
    text_column: str = "text",
    label_column: str = "label",
    epochs: Annotated[int, typer.Option(min=1)] = TrainConfig.epochs,
    batch_size: Annotated[int, typer.Option(min=1)] = TrainConfig.batch_size,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = TrainConfig.learning_rate,
    warmup_ratio: Annotated[float, typer.Option(min=0.0, max=1.0)] = TrainConfig.warmup_ratio,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = TrainConfig.weight_decay,
    max_length: Annotated[
        int, typer.Option(min=8, max=512, help="Tokens per text, special tokens included.")
    ] = (TrainConfig.max_length),
    gradient_accumulation: Annotated[int, typer.Option(min=1)] = TrainConfig.gradient_accumulation,
    patience: Annotated[
        int,
        typer.Option(
            min=0, help="Early stopping: epochs without a better validation macro-F1 (0: off)."
        ),
    ] = TrainConfig.patience,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Cap on optimizer steps (smoke runs).")
    ] = None,
    freeze_embeddings: Annotated[
        bool, typer.Option(help="Keep the word-embedding table fixed while fine-tuning.")
    ] = TrainConfig.freeze_embeddings,
    seed: int = TrainConfig.seed,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    min_accuracy: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Quality gate on test accuracy: below it, exit 1."),
    ] = None,
    cpu_variant: Annotated[str, typer.Option(help="auto (measured), fp32 or int8.")] = "auto",
    fp16: Annotated[
        str, typer.Option(help="Build the fp16 variant (no GPU needed): auto (= on), on or off.")
    ] = "auto",
    int8_tolerance: Annotated[
        float, typer.Option(min=0.0, max=1.0, help=INT8_TOLERANCE_HELP)
    ] = INT8_TOLERANCE,
    progress: Annotated[
        bool,
        typer.Option(help="Progress: a bar on a terminal, a line every 30 s elsewhere."),
    ] = True,
    save_pytorch: Annotated[
        bool, typer.Option(help="Also save the checkpoint in <output>-pytorch/.")
    ] = True,
) -> None:
    """Fine-tune, evaluate, export to ONNX (fp32, int8, fp16 on GPU) and write the artifact."""
    from training.pipeline import RunOptions, run

    if cpu_variant not in ("auto", "fp32", "int8"):
        _fail(f"--cpu-variant {cpu_variant}: expected auto, fp32 or int8")
    if fp16 not in ("auto", "on", "off"):
        _fail(f"--fp16 {fp16}: expected auto, on or off")
    options = RunOptions(
        data=data,
        output=output,
        base_model=base_model,
        text_column=text_column,
        label_column=label_column,
        min_accuracy=min_accuracy,
        save_pytorch=save_pytorch,
        train=TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_ratio=warmup_ratio,
            weight_decay=weight_decay,
            max_length=max_length,
            seed=seed,
            gradient_accumulation=gradient_accumulation,
            patience=patience,
            max_steps=max_steps,
            freeze_embeddings=freeze_embeddings,
            device=device,
            progress=progress,
        ),
        export=ExportOptions(
            cpu_variant=_as_cpu(cpu_variant),
            fp16=_as_fp16(fp16),
            int8_max_accuracy_drop=int8_tolerance,
        ),
    )
    started = time.perf_counter()
    try:
        result = run(options)
    except TrainingError as exc:
        _fail(str(exc), exc.exit_code)
    manifest = result.manifest
    variants = ", ".join(f"{p} ({v.file})" for p, v in manifest.variants.items())
    typer.echo(
        f"artifact: {result.output} [{variants}; cpu serves {manifest.device_variant['cpu']}]"
    )
    typer.echo(
        f"test accuracy: {manifest.metrics['accuracy']:.4f}  macro-F1: {manifest.metrics['macro_f1']:.4f}  "
        f"({manifest.dataset.get('test')} test texts, {time.perf_counter() - started:.0f} s)"
    )
    for note in result.notes:
        typer.echo(f"note: {note}")
    if result.pytorch_dir:
        typer.echo(f"pytorch checkpoint: {result.pytorch_dir}")
    if not manifest.deployable:
        gate = manifest.quality_gate
        _fail(
            f"quality gate failed: test accuracy {gate.value:.4f} < --min-accuracy {gate.threshold}; "
            f"{result.output} is marked not deployable",
            GATE_EXIT_CODE,
        )


@app.command()
def export(
    model: Annotated[
        str,
        typer.Option(
            help="A sequence-classification checkpoint: a save_pretrained directory, or a hub "
            "name where the hub is reachable."
        ),
    ],
    output: Annotated[
        Path, typer.Option(help="Artifact directory to write (replaced whole).")
    ] = Path("artifacts/exported"),
    max_length: Annotated[
        int | None,
        typer.Option(min=1, help="Tokens per text; at most the model's maximum (the default)."),
    ] = None,
    texts: Annotated[
        Path | None,
        typer.Option(
            help="CSV/JSONL/Parquet of texts like the ones you will serve: the parity check "
            "and int8 calibration run on them.",
            show_default="the bundled sample headlines plus longer texts",
        ),
    ] = None,
    text_column: str = "text",
    name: Annotated[
        str, typer.Option(help="model_name in the manifest.", show_default="the directory name")
    ] = "",
    cpu_variant: Annotated[str, typer.Option(help="auto (measured), fp32 or int8.")] = "auto",
    fp16: Annotated[
        str, typer.Option(help="Build the fp16 variant (no GPU needed): auto (= on), on or off.")
    ] = "auto",
    int8_tolerance: Annotated[
        float, typer.Option(min=0.0, max=1.0, help=INT8_TOLERANCE_HELP)
    ] = INT8_TOLERANCE,
    pairs: Annotated[
        bool,
        typer.Option(
            help="The model reads sentence pairs (NLI, paraphrase, a cross-encoder, which may "
            "have one logit): parity is checked on pairs and the manifest says so."
        ),
    ] = False,
) -> None:
    """Export a Hugging Face text classifier you already have into a servable artifact."""
    from training.data import load_texts
    from training.export_model import ExportModelOptions, export_model

    if cpu_variant not in ("auto", "fp32", "int8"):
        _fail(f"--cpu-variant {cpu_variant}: expected auto, fp32 or int8")
    if fp16 not in ("auto", "on", "off"):
        _fail(f"--fp16 {fp16}: expected auto, on or off")
    started = time.perf_counter()
    try:
        result = export_model(
            ExportModelOptions(
                model=model,
                output=output,
                max_length=max_length,
                texts=load_texts(texts, text_column) if texts else [],
                model_name=name,
                pairs=pairs,
                export=ExportOptions(
                    cpu_variant=_as_cpu(cpu_variant),
                    fp16=_as_fp16(fp16),
                    int8_max_accuracy_drop=int8_tolerance,
                ),
            )
        )
    except TrainingError as exc:
        _fail(str(exc), exc.exit_code)
    manifest = result.manifest
    variants = ", ".join(
        f"{p} ({v.file}, checked on {'/'.join(v.verified_on) or 'no device yet'})"
        for p, v in manifest.variants.items()
    )
    typer.echo(f"artifact: {result.output} [{variants}]")
    typer.echo(
        f"{manifest.architecture}, {len(manifest.labels)} labels ({manifest.activation}), "
        f"max {manifest.max_length} tokens (truncates {manifest.truncation_side}), inputs "
        f"{', '.join(manifest.input_names)}; cpu serves {manifest.device_variant['cpu']}, cuda "
        f"{manifest.device_variant.get('cuda')} ({time.perf_counter() - started:.0f} s)"
    )
    for note in result.notes:
        typer.echo(f"note: {note}")


@app.command()
def package(
    model_dir: Annotated[Path, typer.Argument(help="Artifact directory written by `train`.")],
    output: Annotated[Path, typer.Option(help="The model.tar.gz to write.")] = Path("model.tar.gz"),
) -> None:
    """Pack an artifact as SageMaker unpacks it into /opt/ml/model (files at the archive root)."""
    from training.package import package_artifact

    try:
        manifest = package_artifact(model_dir, output)
    except (ArtifactError, TrainingError) as exc:
        _fail(str(exc))
    typer.echo(
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, model {manifest.model_version})"
    )
    if not manifest.deployable:
        typer.echo(f"warning: {model_dir} failed its quality gate; deploy will refuse it", err=True)


def _as_cpu(value: str) -> CpuChoice:
    return value  # type: ignore[return-value]


def _as_fp16(value: str) -> Fp16Choice:
    return value  # type: ignore[return-value]


def _fail(message: str, code: int = USAGE_EXIT_CODE) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    try:
        app(
            args=sys.argv[1:] if argv is None else argv,
            prog_name="python -m training",
            standalone_mode=True,
        )
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0
