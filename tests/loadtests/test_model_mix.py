"""Multi-model load tests: the Zipf model mix, per-model results in the report, and the
SageMaker runtime stand-in loading TargetModels into a multi-model container on first use."""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from mme_standin import multi_model_container

from deploy.artifacts import LocalArtifact, build_tarball
from loadtests import samples
from loadtests.emulated_models import ModelCache, ModelMissing
from loadtests.model_mix import ModelMix, model_names, zipf_weights
from loadtests.options import add_traffic_arguments, traffic_settings
from loadtests.sagemaker_emulator import EmulatorConfig, running_emulator
from loadtests.summary import EntryStats, run_summary
from loadtests.traffic import TrafficError
from service.backend.artifact import load_manifest

RunPython = Callable[..., subprocess.CompletedProcess[str]]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDLOADTEST", "AWS_SECRET_ACCESS_KEY": "load-test-secret"}


def test_zipf_weights_fall_as_one_over_rank_to_the_exponent() -> None:
    weights = zipf_weights(10, 1.2)
    assert sum(weights) == pytest.approx(1.0)
    assert weights[0] / weights[1] == pytest.approx(2**1.2)
    assert weights[0] / weights[9] == pytest.approx(10**1.2)
    assert zipf_weights(4, 0.0) == [0.25] * 4
    with pytest.raises(ValueError, match="at least one"):
        zipf_weights(0, 1.0)
    with pytest.raises(ValueError, match="0 \\(uniform\\) or more"):
        zipf_weights(3, -1.0)


def test_the_sampler_draws_each_model_at_its_weight_and_repeats_with_a_seed() -> None:
    mix = ModelMix.zipf(8, 1.0, "tenant")
    assert mix.names[0] == "tenant-00" and mix.names[-1] == "tenant-07"
    draws = 40_000
    sampler = mix.sampler(random.Random(7))
    counts = Counter(sampler.next() for _ in range(draws))
    for name, weight in zip(mix.names, mix.weights, strict=True):
        expected = draws * weight
        assert abs(counts[name] - expected) < 5 * (expected**0.5), name  # 5 sigma
    first, again = mix.sampler(random.Random(3)), mix.sampler(random.Random(3))
    assert [first.next() for _ in range(50)] == [again.next() for _ in range(50)]
    assert model_names(120)[0] == "model-000"  # padded to sort in rank order


def _settings(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_traffic_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_make_the_mix_or_none_for_a_single_model() -> None:
    assert traffic_settings(_settings()).models is None
    mix = traffic_settings(_settings("--models", "5", "--model-zipf", "0", "--model-prefix", "t"))
    assert mix.models is not None
    assert mix.models.names == ("t-00", "t-01", "t-02", "t-03", "t-04")
    assert mix.models.weights == pytest.approx((0.2,) * 5)
    with pytest.raises(TrafficError, match="--models -1"):
        traffic_settings(_settings("--models", "-1"))
    with pytest.raises(TrafficError, match="--model-zipf"):
        traffic_settings(_settings("--models", "2", "--model-zipf", "-0.5"))


def test_per_model_table_and_summary_rank_models_by_requests() -> None:
    log = samples.SampleLog()
    plan = {"model-00": (60, 10.0), "model-01": (30, 20.0), "model-02": (10, 40.0)}
    at = 1000.0
    for model, (count, latency) in plan.items():
        for i in range(count):
            log.add(at, "json_single", latency + i % 3, i != 0, 1, 4, {}, "", model)
            at += 0.1
    frame = log.frame()
    assert list(frame.columns)[-1] == "model"
    table = samples.per_model(frame)
    assert list(table.index) == ["model-00", "model-01", "model-02"]
    assert list(table["requests"]) == [60, 30, 10] and list(table["failures"]) == [1, 1, 1]
    assert table.loc["model-02", "p50"] > table.loc["model-00", "p99"]
    assert samples.per_model(frame.assign(model="")).empty
    entries = [EntryStats("json_single", 100, 3, 10.0, 20, 40, 42, 42)]
    text = run_summary("run", entries, None, models=table)
    assert "Per model" in text
    assert "| model-01 | 30 | 1 | 30.0% |" in text


def _tarballs(artifact: Path, folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    packed = build_tarball(LocalArtifact(artifact, load_manifest(artifact)), folder / "one.tar.gz")
    for name in names:
        (folder / f"{name}.tar.gz").write_bytes(packed.read_bytes())
    packed.unlink()
    return folder


def test_model_cache_loads_on_first_use_and_unloads_the_least_recent_on_507(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    """AWS docs "Custom containers contract for multi-model endpoints": a load answered 507
    makes SageMaker unload a model and try again; 409 means loaded already."""
    models = _tarballs(tiny_artifact, tmp_path / "prefix", ["a", "b", "c"])
    with multi_model_container(capacity=2) as (url, record):
        cache = ModelCache(models, url, tmp_path / "work")
        assert cache.ensure_loaded("a.tar.gz") == "a"
        assert cache.ensure_loaded("a.tar.gz") == "a" and record.loads == ["a"]
        cache.ensure_loaded("b.tar.gz")
        cache.ensure_loaded("a.tar.gz")  # a is now the most recent: b goes first
        cache.ensure_loaded("c.tar.gz")
        assert record.unloads == ["b"] and set(record.loaded) == {"a", "c"}
        assert Path(record.loaded["c"], "manifest.json").is_file()
        with pytest.raises(ModelMissing, match=r"no d\.tar\.gz"):
            cache.ensure_loaded("d.tar.gz")
        with pytest.raises(ModelMissing):
            cache.ensure_loaded("../prefix/a.tar.gz/../../x.tar.gz")


def test_runtime_stand_in_forwards_target_model_to_the_container(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    """AWS docs "Invoke a multi-model endpoint": TargetModel names the model under the prefix,
    loaded on first use; the container gets it as X-Amzn-SageMaker-Target-Model ("Custom
    containers contract for multi-model endpoints"). A missing model is a 400."""
    models = _tarballs(tiny_artifact, tmp_path / "prefix", ["news", "sport"])
    with multi_model_container() as (url, record):
        config = EmulatorConfig(url, "demo", models_dir=models)
        with running_emulator(config) as endpoint:
            runtime = boto3.client(
                "sagemaker-runtime", region_name="us-east-1", endpoint_url=endpoint,
                aws_access_key_id="AKID", aws_secret_access_key="secret",
                config=Config(retries={"total_max_attempts": 1}),
            )  # fmt: skip

            def invoke(target: str) -> bytes:
                answer = runtime.invoke_endpoint(
                    EndpointName="demo", ContentType="application/json",
                    Body=b'{"inputs": ["a", "b"]}', TargetModel=target,
                )  # fmt: skip
                body: bytes = answer["Body"].read()
                return body

            assert invoke("news.tar.gz").count(b"label") == 2
            invoke("news.tar.gz")
            invoke("sport.tar.gz")
            assert record.loads == ["news", "sport"]
            assert record.targets == ["news.tar.gz", "news.tar.gz", "sport.tar.gz"]
            record.loaded.pop("news")  # the container lost it (a restart): loaded again
            invoke("news.tar.gz")
            assert record.loads == ["news", "sport", "news"]
            with pytest.raises(ClientError, match=r"no other\.tar\.gz"):
                invoke("other.tar.gz")


def _sagemaker_locust(
    run_python: RunPython, endpoint: str, report: Path, *traffic: str, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    """Headless Locust with the SageMaker user against the runtime stand-in at `endpoint`,
    no failure allowed, the report written to `report`."""
    return run_python(
        "-m", "locust", "-f", "loadtests/sagemaker_locustfile.py", "--headless",
        "--only-summary", "--endpoint-name", "demo", "--endpoint-url", endpoint,
        "--region", "us-east-1", *traffic,
        "--slo-max-fail-ratio", "0", "--report-dir", str(report),
        env=CREDENTIALS, timeout=timeout,
    )  # fmt: skip


def _model_counts(report: Path) -> Counter[str]:
    """Requests per model in the run's samples.csv."""
    with (report / "samples.csv").open() as handle:
        return Counter(row["model"] for row in csv.DictReader(handle))


@pytest.mark.load
@pytest.mark.slow
def test_locust_sagemaker_user_spreads_a_zipf_mix_and_reports_per_model(
    run_python: RunPython, tiny_artifact: Path, tmp_path: Path
) -> None:
    names = model_names(6)
    models = _tarballs(tiny_artifact, tmp_path / "prefix", names)
    report = tmp_path / "report"
    with multi_model_container() as (url, record):
        emulator = running_emulator(EmulatorConfig(url, "demo", models_dir=models))
        with emulator as endpoint:
            completed = _sagemaker_locust(
                run_python, endpoint, report,
                "-u", "4", "-r", "4", "-t", "5s", "--models", "6", "--model-zipf", "1.5",
                "--seed", "11",
            )  # fmt: skip
    assert completed.returncode == 0
    counts = _model_counts(report)
    assert set(counts) <= set(names) and sum(counts.values()) > 50
    assert counts["model-00"] > counts["model-01"] > 0  # the head of a Zipf(1.5) mix
    summary = (report / "summary.md").read_text()
    assert "Per model" in summary and "| model-00 |" in summary
    assert set(record.loads) == set(counts)  # each model loaded once, on first use
    assert len(record.loads) == len(set(record.loads))
    assert {t for t in record.targets} == {f"{n}.tar.gz" for n in counts}


def test_run_loads_the_mix_names_into_a_multi_model_server(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    """`loadtests run --models N` loads the names the users will send, through the contract's
    `POST /models` (409, already loaded, is fine; anything else stops the run)."""
    from loadtests.local_server import ServerError
    from loadtests.multi_model_run import load_models
    from loadtests.run import mix_names

    assert mix_names(["-u", "2"]) == []
    names = mix_names(["--models", "3", "--model-prefix", "t", "--shape", "step"])
    assert names == ["t-00", "t-01", "t-02"]
    with multi_model_container(capacity=3) as (url, record):
        load_models(url, names, tiny_artifact)
        load_models(url, names[:1], tiny_artifact)  # 409: loaded already
        assert record.loads == names
        assert set(record.loaded.values()) == {str(tiny_artifact.resolve())}
        with pytest.raises(ServerError, match="loading extra: HTTP 507"):
            load_models(url, ["extra"], tiny_artifact)


def _server_has_multi_model() -> bool:
    import sys

    usage = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--help"], capture_output=True, text=True
    )
    return "--multi-model" in usage.stdout


# Asked once: each ask starts a Python that imports the server.
needs_multi_model_server = pytest.mark.skipif(
    not _server_has_multi_model(), reason="the server has no `serve --multi-model` yet"
)


@pytest.mark.load
@pytest.mark.slow
@needs_multi_model_server
def test_make_loadtest_mme_runs_against_a_real_multi_model_server(
    run_python: RunPython, tiny_artifact: Path, tmp_path: Path
) -> None:
    """What `make loadtest-mme` runs, shortened: a real multi-model server, three models
    loaded, a Zipf mix over them with no failure, per-model rows in the report."""
    report = tmp_path / "report"
    completed = run_python(
        "-m", "loadtests", "run", "--model-dir", str(tiny_artifact), "--report-dir", str(report),
        "-u", "3", "-r", "3", "-t", "5s", "--models", "3", "--slo-max-fail-ratio", "0",
        timeout=240,
    )  # fmt: skip
    assert completed.returncode == 0
    counts = _model_counts(report)
    assert set(counts) == {"model-00", "model-01", "model-02"}
    summary = (report / "summary.md").read_text()
    assert "Per model" in summary and "| /models/*/invoke json_single |" in summary


@pytest.mark.load
@pytest.mark.slow
@needs_multi_model_server
def test_sagemaker_user_through_the_stand_in_loads_models_into_the_real_server_on_first_use(
    run_python: RunPython, tiny_artifact: Path, tmp_path: Path
) -> None:
    """AWS docs "Invoke a multi-model endpoint" and "Custom containers contract for
    multi-model endpoints": the real server starts with no model, the runtime stand-in loads
    each TargetModel through POST /models on its first call, and every call is answered."""
    import json
    import urllib.request

    from loadtests.multi_model_run import multi_model_server

    names = model_names(4)
    models = _tarballs(tiny_artifact, tmp_path / "prefix", names)
    report = tmp_path / "report"
    with multi_model_server(tiny_artifact, [], log_path=tmp_path / "server.log") as url:
        with urllib.request.urlopen(f"{url}/models", timeout=10) as answer:
            assert json.load(answer)["models"] == []  # nothing loaded before the first call
        emulator = running_emulator(EmulatorConfig(url, "demo", models_dir=models))
        with emulator as endpoint:
            completed = _sagemaker_locust(
                run_python, endpoint, report,
                "-u", "3", "-r", "3", "-t", "6s", "--models", "4", "--model-zipf", "0.5",
                "--seed", "5",
                timeout=240,
            )  # fmt: skip
        with urllib.request.urlopen(f"{url}/models", timeout=10) as answer:
            loaded = {model["modelName"] for model in json.load(answer)["models"]}
    assert completed.returncode == 0
    counts = _model_counts(report)
    assert set(counts) == set(names) == loaded
    assert "Per model" in (report / "summary.md").read_text()
