"""Running a step's container under Docker, as SageMaker runs it on an instance."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Container:
    image: str
    command: list[str]
    mounts: list[tuple[Path, str]] = field(default_factory=list)  # host dir, container path
    entrypoint: str | None = None
    name: str = ""


class ContainerRunner(Protocol):
    def run(self, container: Container, log: Path) -> int:
        """Run to the end, stdout and stderr into `log`; the exit code."""
        ...


@dataclass
class DockerRunner:
    """`docker run` with the step's bind mounts; `label` marks the containers (clean-up)."""

    label: str | None = None
    timeout_s: float = 3600

    def argv(self, container: Container) -> list[str]:
        argv = ["docker", "run", "--rm"]
        if container.name:
            argv += ["--name", container.name]
        if self.label:
            argv += ["--label", self.label]
        for host, path in container.mounts:
            argv += ["-v", f"{host.resolve()}:{path}"]
        if container.entrypoint:
            argv += ["--entrypoint", container.entrypoint]
        return [*argv, container.image, *container.command]

    def run(self, container: Container, log: Path) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as sink:
            try:
                done = subprocess.run(
                    self.argv(container),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    timeout=self.timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                if container.name:
                    subprocess.run(["docker", "rm", "-f", container.name], check=False)
                sink.write(f"\nstopped after {self.timeout_s:.0f} s\n".encode())
                return 124
        return done.returncode
