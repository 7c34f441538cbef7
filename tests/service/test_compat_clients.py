"""The real clients of other tools against a running server on a tiny pair model: Triton's
`tritonclient[http]` over the Open Inference Protocol v2 (JSON and binary tensors), and
`huggingface_hub`'s `InferenceClient.text_classification` against `/invocations`, and the
openai SDK against `/classify`. Their answers equal `transformers.pipeline` on the same inputs
within 1e-4.

(Neither the openai SDK nor vLLM ships a classify method; the SDK's generic `post` is how tools
built on it reach vLLM's extra routes. KServe's `kserve` package pulls a whole serving stack in;
tritonclient speaks the same v2 protocol.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pair_models import pipeline_scores, sample_pairs, served

from training.tiny_hf_models import NLI_LABELS, export_tiny

pytestmark = pytest.mark.slow

PAIRS = sample_pairs(4)
NAME = "bert-nli-checkpoint"


@pytest.fixture(scope="module")
def nli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return export_tiny("bert-nli", tmp_path_factory.mktemp("nli"), "--pairs")


@pytest.fixture(scope="module")
def url(nli: tuple[Path, Path]) -> Iterator[str]:
    with served(nli[1]) as base:
        yield base


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_tritonclient_infers_pairs_like_the_pipeline(
    url: str, nli: tuple[Path, Path], binary: bool
) -> None:
    import tritonclient.http as triton

    expected = pipeline_scores(nli[0], PAIRS)
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready(NAME)
        assert not client.is_model_ready("another-model")
        metadata: Any = client.get_model_metadata(NAME)
        assert {i["name"] for i in metadata["inputs"]} == {"text", "text_pair"}
        inputs = []
        for name, column in (("text", 0), ("text_pair", 1)):
            tensor = triton.InferInput(name, [len(PAIRS)], "BYTES")
            data = np.asarray([pair[column] for pair in PAIRS], dtype=object)
            tensor.set_data_from_numpy(data, binary_data=binary)
            inputs.append(tensor)
        outputs = [
            triton.InferRequestedOutput(name, binary_data=binary)
            for name in ("label", "score", "scores")
        ]
        result = client.infer(NAME, inputs, outputs=outputs)
        scores = result.as_numpy("scores")
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
        top = result.as_numpy("score")
    finally:
        client.close()
    assert scores is not None and top is not None
    for row, label, best, want in zip(scores, labels, top, expected, strict=True):
        got = dict(zip(NLI_LABELS, row.tolist(), strict=True))
        assert [got[k] for k in want] == pytest.approx([want[k] for k in want], abs=1e-4)
        assert label == max(want, key=lambda k: want[k])
        assert float(best) == pytest.approx(max(want.values()), abs=1e-4)


def test_tritonclient_default_call_uses_binary_outputs(url: str) -> None:
    """With no outputs named, tritonclient asks for every output in binary form."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    try:
        text = triton.InferInput("text", [1], "BYTES")
        text.set_data_from_numpy(np.asarray(["Stocks rally as rates hold"], dtype=object))
        result = client.infer(NAME, [text])
    finally:
        client.close()
    scores = result.as_numpy("scores")
    assert scores is not None and scores.shape == (1, 3)
    assert float(scores.sum()) == pytest.approx(1.0, abs=1e-5)


def test_huggingface_inference_client_text_classification(url: str, nli: tuple[Path, Path]) -> None:
    from huggingface_hub import InferenceClient
    from transformers import pipeline

    texts = ["Stocks rally as the central bank holds rates", "New vaccine trial shows promise"]
    classify = pipeline("text-classification", model=str(nli[0]), device="cpu")
    client = InferenceClient(model=f"{url}/invocations")
    for text in texts:
        answer = client.text_classification(text, top_k=3)
        want: Any = classify(text, top_k=None)
        assert [a.label for a in answer] == [w["label"] for w in want]
        assert [a.score for a in answer] == pytest.approx([w["score"] for w in want], abs=1e-4)


def test_openai_client_calls_classify(url: str, nli: tuple[Path, Path]) -> None:
    """The openai SDK, pointed at the server as at vLLM, calling `/classify` through its
    generic `post` (the SDK has no classify method; this is how tools built on it reach
    vLLM's extra routes). Errors come back as the SDK's typed exceptions."""
    import openai

    expected = pipeline_scores(nli[0], PAIRS)
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    body = {"model": NAME, "input": [{"text": a, "text_pair": b} for a, b in PAIRS]}
    answer: Any = client.post("/classify", cast_to=object, body=body)
    for row, want in zip(answer["data"], expected, strict=True):
        got = dict(zip(NLI_LABELS, row["probs"], strict=True))
        assert [got[k] for k in want] == pytest.approx([want[k] for k in want], abs=1e-4)
    with pytest.raises(openai.NotFoundError):
        client.post("/classify", cast_to=object, body={"model": "gpt-4", "input": "x"})
    client.close()
