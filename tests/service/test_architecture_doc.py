"""docs/architecture.md lists every module under service/, so the map stays true."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_service_module_is_described_in_the_architecture_doc() -> None:
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "service").rglob("*.py"))
    assert len(modules) > 20
    missing = [m for m in modules if f"`{m}`" not in doc]
    assert not missing, f"add these to docs/architecture.md: {missing}"


def test_layers_import_downward_only() -> None:
    """backend imports neither core nor api; core does not import api."""
    for layer, forbidden in (
        ("backend", ("service.core", "service.api")),
        ("core", ("service.api",)),
    ):
        for path in (REPO / "service" / layer).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            for name in forbidden:
                assert f"from {name}" not in text and f"import {name}" not in text, (path, name)
