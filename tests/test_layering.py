"""Arrows point down only: hypervisor_sim imports nothing of ours or Django's; provisioning never the portal."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("hypervisor_sim", ("django", "celery", "portal", "provisioning", "rest_framework")),
        ("provisioning", ("portal.web", "portal.api", "portal.views", "portal.urls", "tools")),
        ("portal", ("tools",)),  # the dev runner is no part of the running portal
    ],
)
def test_layers_only_import_downwards(package, forbidden):
    bad = [(f, m) for f, m in imported_modules(package) if m.split(".")[0] in forbidden or m.startswith(forbidden)]
    assert bad == []


def test_only_the_driver_bridges_into_the_simulator():
    users = sorted({f for f, m in imported_modules("provisioning") if m.split(".")[0] == "hypervisor_sim"})
    assert users == ["provisioning/driver.py"]
