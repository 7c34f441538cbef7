"""The compatible routes share `/invocations`' admission, limits and error shape: shed with 503
and Retry-After, 413 past the text limit, 400 for a body they cannot read, 404 for another
model, and an OIP v2 model's metadata and readiness (in-process app, tiny real model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from service_helpers import running

from service.api.app import create_app
from service.settings import Settings

NAME = "tiny-onnx"  # the tiny artifact's model_name


def app_for(model_dir: Path, **settings: object) -> FastAPI:
    return create_app(Settings(model_dir=model_dir, device="cpu", **settings))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/classify", {"input": ["a headline", "another one"]}),
        ("/predict", {"inputs": ["a headline", "another one", "a third"]}),
        (
            f"/v2/models/{NAME}/infer",
            {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}]},
        ),
    ],
)
async def test_shed_like_invocations(tiny_artifact: Path, path: str, body: object) -> None:
    async with running(app_for(tiny_artifact, max_queue_texts=1)) as client:
        reply = await client.post(path, json=body)
    assert reply.status_code == 503, reply.text
    assert reply.json()["type"] == "overloaded" and reply.headers["retry-after"] == "1"
    assert reply.headers["x-request-id"] and float(reply.headers["x-server-time"]) >= 0


async def test_limits_and_refusals(tiny_artifact: Path) -> None:
    async with running(app_for(tiny_artifact, max_texts_per_request=2)) as client:
        too_many = await client.post("/classify", json={"input": ["a", "b", "c"]})
        assert too_many.status_code == 413 and too_many.json()["type"] == "payload_too_large"
        broken = await client.post("/predict", content=b"{not json")
        assert broken.status_code == 400 and broken.json()["type"] == "bad_request"
        empty = await client.post("/classify", json={"input": ["ok", " "]})
        assert empty.status_code == 422 and empty.json()["type"] == "empty_text"
        other = await client.post("/v2/models/other/infer", json={"inputs": []})
        assert other.status_code == 404 and other.json()["type"] == "model_not_found"
        no_reranker = await client.post("/rerank", json={"query": "q", "texts": ["a"]})
        assert no_reranker.status_code == 400 and "one-logit" in no_reranker.json()["error"]


async def test_oip_health_and_metadata(tiny_artifact: Path) -> None:
    async with running(app_for(tiny_artifact)) as client:
        assert (await client.get("/v2/health/live")).status_code == 200
        assert (await client.get("/v2/health/ready")).status_code == 200
        assert (await client.get(f"/v2/models/{NAME}/ready")).status_code == 200
        metadata = (await client.get(f"/v2/models/{NAME}")).json()
        assert metadata["name"] == NAME and [i["name"] for i in metadata["inputs"]] == ["text"]
        assert metadata["parameters"]["labels"] == [
            "business",
            "entertainment",
            "health",
            "scitech",
        ]
        server = (await client.get("/v2")).json()
        assert "binary_tensor_data" in server["extensions"]
