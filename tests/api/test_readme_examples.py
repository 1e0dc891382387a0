"""The README's REST examples run as written against a live server and a real worker: the curl
flow (bash + curl) and the Python snippet (standard library only)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.models import Instance, KeyPair

pytestmark = [pytest.mark.celery]
README = Path(__file__).resolve().parents[2] / "README.md"


def block(marker: str) -> str:
    """The fenced code block of the README whose first line holds `marker`."""
    for match in re.finditer(r"```(?:python|bash)\n(.*?)```", README.read_text(), re.S):
        if marker in match.group(1).splitlines()[0]:
            return match.group(1)
    raise AssertionError(f"no README block marked {marker}")


@pytest.fixture
def demo(django_user_model):
    return django_user_model.objects.create_user("demo", password="demo")


def test_readme_curl_flow(celery_worker, live_server, catalog, demo, tmp_path):
    script = "set -euo pipefail\n" + block("rest-readme-curl")
    proc = subprocess.run(["timeout", "240", "bash", "-c", script], env={**os.environ, "SKYPORT_URL": live_server.url},
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    launched = re.search(r"launched (i-[0-9a-f]+)", proc.stdout)
    assert launched, proc.stdout[-2000:]
    inst = Instance.objects.get(public_id=launched.group(1))
    assert inst.owner == demo and inst.state == "terminated" and inst.key_name == "laptop"
    assert (tmp_path / "laptop.pem").read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert KeyPair.objects.filter(owner=demo, name="laptop").exists()


def test_readme_python_snippet(celery_worker, live_server, catalog, demo, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(block("rest-readme-python"))
    proc = subprocess.run([sys.executable, "-I", str(script)], env={**os.environ, "SKYPORT_URL": live_server.url},
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, credentials, last = proc.stdout.splitlines()
    inst_id, state, zone, ip = first.split()
    assert state == "running" and zone.startswith("sky-") and ip.startswith("10.")
    assert "'password'" in credentials and last == "shutting-down"
    assert Instance.objects.get(public_id=inst_id).owner == demo
