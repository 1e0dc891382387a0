"""hypervisor_sim is pure: no Django/Celery/portal/provisioning, no wall clock, no global RNG."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "hypervisor_sim"
FORBIDDEN = ("django", "celery", "portal", "provisioning")

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import hypervisor_sim
names = [m.name for m in pkgutil.walk_packages(hypervisor_sim.__path__, "hypervisor_sim.")
         if not m.name.endswith("__main__")]  # __main__ runs the CLI; it only imports cli
for name in names:
    importlib.import_module(name)
{extra}
print(json.dumps({{"imported": names, "modules": sorted(sys.modules)}}))
"""


def _run(extra: str = "") -> dict:
    import json

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL.format(extra=extra)], cwd=PKG.parent, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _offenders(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in FORBIDDEN]


def test_importing_every_module_loads_no_django_celery_portal_or_provisioning():
    data = _run()
    assert {"hypervisor_sim.migration", "hypervisor_sim.migration.engine", "hypervisor_sim.cli",
            "hypervisor_sim.evacuation"} <= set(data["imported"])
    assert _offenders(data["modules"]) == []


def test_the_check_detects_a_forbidden_import():
    pytest.importorskip("django")
    data = _run("import django")
    assert "django" in _offenders(data["modules"])


def test_main_module_only_wraps_the_cli():
    tree = ast.parse((PKG / "__main__.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"cli"}


BANNED_CALLS = {
    ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "sleep"),
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
}
ALLOWED_IMPORTS = {"__future__", "argparse", "base64", "collections", "dataclasses", "enum", "hashlib",
                   "ipaddress", "json", "math", "numpy", "random", "re", "sys", "typing"}


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_module_uses_only_stdlib_numpy_and_no_clock_or_global_random(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in ALLOWED_IMPORTS, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module.split(".")[0] in ALLOWED_IMPORTS, node.module
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in BANNED_CALLS, f"{path.name}: {node.value.id}.{node.attr}"
            if node.value.id == "random":  # module-level random.* uses the global state
                assert node.attr == "Random", f"{path.name}: random.{node.attr}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner = node.value
            if isinstance(inner.value, ast.Name) and inner.value.id in ("np", "numpy") and inner.attr == "random":
                assert node.attr in ("default_rng", "Generator"), f"{path.name}: np.random.{node.attr}"
