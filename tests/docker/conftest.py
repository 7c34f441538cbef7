"""Session fixtures for the container tier (`make test-docker`, marker `docker`).

`docker_daemon` makes sure a daemon answers, starting one by pid if needed (and stopping it at
the end). The image fixtures build the stand-in base images (machines that cannot pull) and
the project's images under session-unique tags. Everything this session made is removed at the
end, even on failure. Run with `-s` to see the time each step took.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dockertools import (
    REPO,
    SCRIPTS,
    SESSION,
    BuiltImage,
    build_image,
    daemon_answers,
    image_exists,
    remove_image,
    run,
    step,
)

# Every container the tier starts carries this label, so clean-up finds them all.
CONTAINER_LABEL = f"headline-serve.test-session={SESSION}"
BASE_TAG = "python:3.11-slim"


def compose_image(service: str) -> str:
    """The image docker-compose.yml names for a service (the stand-ins must use the same tag)."""
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    return str(spec["services"][service]["image"])


@pytest.fixture(scope="session")
def docker_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A Docker daemon that answers; started (and at the end stopped) by pid if none did."""
    if shutil.which("docker") is None:
        pytest.fail("no docker client: run scripts/docker-install.sh", pytrace=False)
    if daemon_answers():
        yield
        return
    state = tmp_path_factory.mktemp("dockerd")
    env = {"DOCKERD_PIDFILE": str(state / "dockerd.pid"), "DOCKERD_LOG": str(state / "dockerd.log")}
    with step("start dockerd"):
        run(SCRIPTS / "dockerd.sh", "start", env=env, timeout=120)
    try:
        yield
    finally:
        with step("stop dockerd"):
            run(SCRIPTS / "dockerd.sh", "stop", env=env, check=False, timeout=120)


@pytest.fixture(scope="session")
def test_containers(docker_daemon: None) -> Iterator[str]:
    """The label to put on every container; all of them are removed at the end."""
    yield CONTAINER_LABEL
    ids = run("docker", "ps", "-aq", "--filter", f"label={CONTAINER_LABEL}", check=False).stdout
    if ids.split():
        run("docker", "rm", "-f", *ids.split(), check=False)


@pytest.fixture(scope="session")
def standin_base_images(docker_daemon: None) -> Iterator[None]:
    """Local stand-ins for python:3.11-slim and the Prometheus image, unless present already."""
    prometheus_tag = compose_image("prometheus")
    made = [tag for tag in (BASE_TAG, prometheus_tag) if not image_exists(tag)]
    if made:
        with step(f"stand-in base images {' '.join(made)}"):
            run(
                SCRIPTS / "make-standin-images.sh",
                env={"PYTHON_TAG": BASE_TAG, "PROMETHEUS_TAG": prometheus_tag},
                timeout=900,
            )
    yield
    for tag in made:
        run("docker", "rmi", "-f", tag, check=False)


@pytest.fixture(scope="session")
def serving_image(standin_base_images: None, test_containers: str) -> Iterator[str]:
    """The CPU serving image, built from docker/serve.Dockerfile."""
    with step("build serving image (CPU)"):
        image = build_image("docker/serve.Dockerfile", f"headline-serve:{SESSION}")
    try:
        yield image.tag
    finally:
        remove_image(image)


@pytest.fixture(scope="session")
def training_image(standin_base_images: None, test_containers: str) -> Iterator[str]:
    """The training image, torch from a local CPU wheel (the index's default is CUDA)."""
    wheelhouse = REPO / "docker" / "wheelhouse"
    before = set(wheelhouse.glob("*.whl"))
    with step("torch wheelhouse"):
        run(SCRIPTS / "torch-wheelhouse.sh", timeout=600)
    image = BuiltImage(f"headline-serve-train:{SESSION}")
    try:
        with step("build training image"):
            image = build_image("docker/train.Dockerfile", image.tag)
        yield image.tag
    finally:
        for wheel in set(wheelhouse.glob("*.whl")) - before:
            wheel.unlink()
        remove_image(image)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(REPO)
