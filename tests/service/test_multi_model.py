"""Multi-model endpoints from outside: a real `serve --multi-model` process (two workers) on a
real port, tiny real ONNX artifacts, real HTTP. The rules are AWS's: "Custom containers
contract for multi-model endpoints" (load 200/409/507, list with paging, get, unload, invoke,
the X-Amzn-SageMaker-Target-Model header) and "Build your own container for multi-model
endpoints" (started with no model, /ping healthy)."""

from __future__ import annotations

import concurrent.futures
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtests.local_server import ServerProcess, free_port, server_process
from training.tiny_onnx_artifact import build_onnx_artifact

pytestmark = pytest.mark.slow

LABELS_A = ["business", "sports"]
LABELS_B = ["cats", "dogs", "fish"]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mme-artifacts")
    broken = root / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    return {
        "a": build_onnx_artifact(root / "a", labels=LABELS_A, seed=1, int8=False),
        "b": build_onnx_artifact(root / "b", labels=LABELS_B, seed=2, int8=False),
        "broken": broken,
    }


def start(tmp_path: Path, workers: int, **env: str) -> Iterator[ServerProcess]:
    port = free_port()
    command = [sys.executable, "-m", "service", "serve", "--multi-model", "--port", str(port)]
    with server_process(
        command,
        f"http://127.0.0.1:{port}",
        env={
            "SERVE_HOST": "127.0.0.1",
            "SERVE_WORKERS": str(workers),
            "SERVE_INTRA_OP_THREADS": "1",
            **env,
        },
        log_path=tmp_path / f"serve-{port}.log",
        stop_timeout=10,
    ) as server:
        server.wait_for_ping()
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from start(tmp_path_factory.mktemp("mme-logs"), workers=2)


def resident_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def load(url: str, name: str, artifact: Path) -> httpx.Response:
    return httpx.post(f"{url}/models", json={"model_name": name, "url": str(artifact)}, timeout=60)


def invoke(url: str, name: str, text: str = "stocks rally", **headers: str) -> httpx.Response:
    # A fresh connection each time: the kernel spreads them over both workers.
    return httpx.post(
        f"{url}/models/{name}/invoke",
        json={"inputs": text},
        headers={"connection": "close", **headers},
        timeout=60,
    )


def test_starts_with_no_model_and_is_healthy(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/ping").status_code == 200
    assert httpx.get(f"{server.url}/models").json()["models"] == []
    answer = invoke(server.url, "nothing")
    assert answer.status_code == 404 and answer.json()["type"] == "model_not_loaded"


def test_load_conflict_bad_artifacts_get_and_unload(
    server: ServerProcess, artifacts: dict[str, Path]
) -> None:
    url = server.url
    loaded = load(url, "a", artifacts["a"])
    assert loaded.status_code == 200, loaded.text
    assert loaded.json() == {"modelName": "a", "modelUrl": str(artifacts["a"])}
    assert load(url, "a", artifacts["b"]).status_code == 409
    missing = load(url, "m", artifacts["a"].parent / "nowhere")
    broken = load(url, "x", artifacts["broken"])
    for refused in (missing, broken):
        assert refused.status_code == 400 and refused.json()["type"] == "invalid_artifact"
        assert "\n" not in refused.json()["error"]
    assert "nowhere" in missing.json()["error"] and "manifest" in broken.json()["error"]
    # The loaded model kept serving through the failed loads.
    assert invoke(url, "a").status_code == 200
    got = httpx.get(f"{url}/models/a")
    assert got.status_code == 200 and got.json()["modelName"] == "a"
    assert got.json()["memoryMb"] > 0  # measured, not guessed
    assert httpx.get(f"{url}/models/x").status_code == 404
    assert httpx.delete(f"{url}/models/a").status_code == 200
    assert httpx.delete(f"{url}/models/a").status_code == 404
    assert httpx.get(f"{url}/models/a").status_code == 404
    # Unloaded in every worker: no fresh connection finds it.
    assert {invoke(url, "a").status_code for _ in range(8)} == {404}
    # And loadable again.
    assert load(url, "a", artifacts["a"]).status_code == 200
    assert invoke(url, "a").status_code == 200
    assert httpx.delete(f"{url}/models/a").status_code == 200


def test_paging(server: ServerProcess, artifacts: dict[str, Path]) -> None:
    names = [f"page{i}" for i in range(5)]
    for name in names:
        assert load(server.url, name, artifacts["a"]).status_code == 200
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"max_results": "2", **({"next_page_token": token} if token else {})}
        body = httpx.get(f"{server.url}/models", params=params).json()
        assert len(body["models"]) <= 2
        seen += [m["modelName"] for m in body["models"]]
        pages += 1
        token = body.get("nextPageToken")
        if token is None:
            break
    assert seen == names and pages == 3
    assert httpx.get(f"{server.url}/models", params={"max_results": "x"}).status_code == 400
    for name in names:
        assert httpx.delete(f"{server.url}/models/{name}").status_code == 200


def test_invoke_takes_what_invocations_takes_and_the_target_header(
    server: ServerProcess, artifacts: dict[str, Path]
) -> None:
    url = server.url
    assert load(url, "b", artifacts["b"]).status_code == 200
    csv = httpx.post(
        f"{url}/models/b/invoke",
        content=b"one fish\ntwo dogs\n",
        headers={
            "content-type": "text/csv",
            "accept": "application/jsonlines",
            "x-amzn-sagemaker-custom-attributes": "top_k=2",
        },
    )
    assert csv.status_code == 200, csv.text
    lines = csv.text.strip().splitlines()
    assert len(lines) == 2 and all(len(httpx.Response(200, content=x).json()) == 2 for x in lines)
    assert csv.headers["x-amzn-sagemaker-custom-attributes"] == "top_k=2"
    for header in ("X-Amzn-SageMaker-Target-Model", "X-Amzn-Target-Model"):
        routed = httpx.post(f"{url}/invocations", json={"inputs": "a cat"}, headers={header: "b"})
        assert routed.status_code == 200, routed.text
        assert {a["label"] for a in routed.json()} <= set(LABELS_B)
    unnamed = httpx.post(f"{url}/invocations", json={"inputs": "a cat"})
    assert unnamed.status_code == 400
    assert (
        httpx.post(
            f"{url}/invocations",
            json={"inputs": "x"},
            headers={"X-Amzn-SageMaker-Target-Model": "z"},
        ).status_code
        == 404
    )
    assert httpx.delete(f"{url}/models/b").status_code == 200


def test_models_kept_apart_under_concurrent_load(
    server: ServerProcess, artifacts: dict[str, Path]
) -> None:
    url = server.url
    assert load(url, "a", artifacts["a"]).status_code == 200
    assert load(url, "b", artifacts["b"]).status_code == 200
    texts = [f"text number {i} about goals" for i in range(40)]

    def scores(name: str, text: str) -> dict[str, float]:
        answer = httpx.post(
            f"{url}/models/{name}/invoke",
            json={"inputs": text, "parameters": {"return_all_scores": True}},
            headers={"connection": "close"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        return {x["label"]: x["score"] for x in answer.json()[0]}

    alone = {(name, text): scores(name, text) for name in ("a", "b") for text in texts[:4]}

    def call(i: int) -> tuple[str, str, dict[str, float]]:
        name, text = "ab"[i % 2], texts[i % 4]
        return name, text, scores(name, text)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(160)))
    for name, text, answer in results:
        want = alone[(name, text)]
        assert set(answer) == set(LABELS_A if name == "a" else LABELS_B)
        # Batched with other texts of the same model, padded differently: float noise only.
        assert all(abs(answer[label] - want[label]) < 1e-4 for label in want)
    # Both workers served both models: each holds them (loaded through one, lazily by the other).
    metrics = httpx.get(f"{url}/metrics").text
    held = re.findall(r'^serve_models_loaded\{pid="(\d+)"\} (\S+)$', metrics, re.M)
    assert len(held) == 2 and all(float(v) == 2 for _, v in held), held
    assert re.search(r'serve_model_requests_total\{model="a",status="200"\}', metrics)
    for name in ("a", "b"):
        assert httpx.delete(f"{url}/models/{name}").status_code == 200


def test_507_keeps_the_server_and_its_models(tmp_path: Path, artifacts: dict[str, Path]) -> None:
    """Under a budget, loads are refused with 507 before memory runs out; the loaded models
    still answer, and after an unload a load fits again."""
    for server in start(tmp_path, workers=1):  # one process: its resident memory with no model
        idle_mib = resident_mib(server.process.pid)
    # Room for the first load's estimate (30 MB before anything is measured) and a little more.
    budget = str(int(idle_mib + 80))
    for server in start(tmp_path, workers=1, SERVE_MEMORY_MB=budget, SERVE_MEMORY_MARGIN_MB="0"):
        url = server.url
        loaded: list[str] = []
        refused = None
        for i in range(60):
            answer = load(url, f"m{i}", artifacts["a"])
            if answer.status_code == 507:
                refused = answer
                break
            assert answer.status_code == 200, answer.text
            loaded.append(f"m{i}")
        assert refused is not None and loaded, "the budget never refused a load"
        assert refused.json()["type"] == "insufficient_memory"
        assert httpx.get(f"{url}/ping").status_code == 200
        assert all(invoke(url, name).status_code == 200 for name in loaded)
        # As SageMaker does on 507: unload the least recent model, try again, until it fits.
        for name in loaded:
            assert httpx.delete(f"{url}/models/{name}").status_code == 200
            again = load(url, "again", artifacts["a"])
            if again.status_code == 200:
                break
            assert again.status_code == 507
        assert again.status_code == 200
        assert invoke(url, "again").status_code == 200


def test_compatible_routes_take_the_model_name(
    server: ServerProcess, artifacts: dict[str, Path]
) -> None:
    """vLLM's /classify by its `model` field, OIP v2 by the path: the model loaded under that
    name answers, with that name; an unknown name is 404."""
    url = server.url
    assert load(url, "b", artifacts["b"]).status_code == 200
    classified = httpx.post(f"{url}/classify", json={"model": "b", "input": ["a cat"]})
    assert classified.status_code == 200, classified.text
    assert classified.json()["model"] == "b"
    assert classified.json()["data"][0]["label"] in LABELS_B
    unknown = httpx.post(f"{url}/classify", json={"model": "zz", "input": ["a cat"]})
    assert unknown.status_code == 404
    infer = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a dog"]}]}
    inferred = httpx.post(f"{url}/v2/models/b/infer", json=infer)
    assert inferred.status_code == 200, inferred.text
    assert inferred.json()["model_name"] == "b"
    assert httpx.get(f"{url}/v2/models/b/ready").status_code == 200
    assert httpx.get(f"{url}/v2/models/zz/ready").status_code == 404
    assert httpx.delete(f"{url}/models/b").status_code == 200


def sagemaker_style(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    """Bare `serve` with SAGEMAKER_MULTI_MODEL=true and nothing in /opt/ml/model, as SageMaker
    starts a multi-model container ("Build your own container for multi-model endpoints")."""
    port = free_port()
    with server_process(
        [sys.executable, "-c", "from service.__main__ import main; main()"],
        f"http://127.0.0.1:{port}",
        env={
            "SERVE_HOST": "127.0.0.1",
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MULTI_MODEL": "true",
            "SERVE_MODEL_DIR": str(tmp_path / "empty"),
            "SERVE_WORKERS": "1",
            "SERVE_INTRA_OP_THREADS": "1",
            **env,
        },
        log_path=tmp_path / f"serve-{port}.log",
        stop_timeout=10,
    ) as server:
        server.wait_for_ping()
        yield server


def test_sagemaker_start_never_evicts(tmp_path: Path, artifacts: dict[str, Path]) -> None:
    """Under SageMaker eviction is SageMaker's (it unloads on 507): SERVE_EVICT_LRU is ignored."""
    for server in sagemaker_style(tmp_path):
        idle_mib = resident_mib(server.process.pid)
    budget = str(int(idle_mib + 80))
    for server in sagemaker_style(
        tmp_path, SERVE_MEMORY_MB=budget, SERVE_MEMORY_MARGIN_MB="0", SERVE_EVICT_LRU="true"
    ):
        codes = [load(server.url, f"m{i}", artifacts["a"]).status_code for i in range(60)]
        assert 507 in codes, codes
        first = codes.index(507)
        assert set(codes[:first]) == {200}
        listed = httpx.get(f"{server.url}/models").json()["models"]
        assert [m["modelName"] for m in listed][:first] == [f"m{i}" for i in range(first)]


def test_lru_eviction_outside_sagemaker(tmp_path: Path, artifacts: dict[str, Path]) -> None:
    """With SERVE_EVICT_LRU (Compose), a load that would not fit unloads the least recently
    used models instead of answering 507; the one just used stays."""
    for server in start(tmp_path, workers=1):
        idle_mib = resident_mib(server.process.pid)
    budget = str(int(idle_mib + 80))
    for server in start(
        tmp_path,
        workers=1,
        SERVE_MEMORY_MB=budget,
        SERVE_MEMORY_MARGIN_MB="0",
        SERVE_EVICT_LRU="true",
    ):
        url = server.url
        for i in range(60):
            assert load(url, f"m{i}", artifacts["a"]).status_code == 200
            assert invoke(url, "m0").status_code == 200  # m0 stays the most recently used
        names = [m["modelName"] for m in httpx.get(f"{url}/models").json()["models"]]
        assert "m0" in names and "m59" in names
        assert "m1" not in names  # evicted: the least recently used
        assert invoke(url, "m1").status_code == 404


def test_reload_right_after_unload_in_any_worker(
    server: ServerProcess, artifacts: dict[str, Path]
) -> None:
    """A DELETE through one worker, then at once a POST that may reach the other (which still
    held the model until its next look at the registry): loaded again, not 409."""
    url = server.url
    for _ in range(6):
        assert load(url, "r", artifacts["a"]).status_code == 200
        assert {invoke(url, "r").status_code for _ in range(8)} == {200}  # both workers hold it
        assert httpx.delete(f"{url}/models/r", headers={"connection": "close"}).status_code == 200


def test_a_name_loaded_anew_serves_the_new_artifact_in_every_worker(
    server: ServerProcess, artifacts: dict[str, Path]
) -> None:
    """Unload a name and load it again from another artifact: no worker answers from the old
    one, even one that had not yet seen the unload."""
    url = server.url
    assert load(url, "swap", artifacts["a"]).status_code == 200
    assert {invoke(url, "swap").status_code for _ in range(8)} == {200}  # both workers hold it
    assert httpx.delete(f"{url}/models/swap").status_code == 200
    assert load(url, "swap", artifacts["b"]).status_code == 200
    for _ in range(12):
        answer = invoke(url, "swap")
        assert answer.status_code == 200 and answer.json()[0]["label"] in LABELS_B, answer.text
    assert httpx.delete(f"{url}/models/swap").status_code == 200
