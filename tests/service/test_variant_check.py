"""A variant not yet checked on the device it serves on (fp16 built without a GPU) is compared
with fp32 at start; beyond the tolerance fp32 serves instead, said in the log and the metric.
CUDA is not here: the same path is exercised with an unverified int8 variant on CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from service_helpers import serving

from service.backend.artifact import load_manifest, write_manifest


@pytest.fixture(scope="module")
def unverified_int8(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("unverified") / "model"
    shutil.copytree(tiny_artifact, out)
    manifest = load_manifest(out)
    manifest.variants["int8"].verified_on = []
    manifest.device_variant["cpu"] = "int8"
    write_manifest(out, manifest)
    return out


@pytest.mark.parametrize(
    ("tolerance", "served"),
    [(0.0, "fp32"), (1.0, "int8")],  # int8 always differs a little from fp32; never by 1
)
async def test_an_unverified_variant_serves_only_within_tolerance(
    unverified_int8: Path, tolerance: float, served: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="service")
    async for client in serving(unverified_int8, device="cpu", variant_tolerance=tolerance):
        assert (
            await client.post("/invocations", json={"inputs": "shares rose"})
        ).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert f'plan="cpu/{served}/' in metrics
    if served == "fp32":
        assert "int8 disagrees with fp32 on cpu" in caplog.text and "serving fp32" in caplog.text
    else:
        assert "int8 checked on cpu" in caplog.text


async def test_a_verified_variant_is_not_rechecked(
    tiny_artifact: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "model"
    shutil.copytree(tiny_artifact, out)
    manifest = load_manifest(out)
    manifest.variants["int8"].verified_on = ["cpu"]
    manifest.device_variant["cpu"] = "int8"
    write_manifest(out, manifest)
    caplog.set_level("INFO", logger="service")
    async for client in serving(out, device="cpu", variant_tolerance=0.0):
        metrics = (await client.get("/metrics")).text
    assert 'plan="cpu/int8/' in metrics and "checked on cpu" not in caplog.text
