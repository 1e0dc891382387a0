"""The README's boto3 script and awscli commands run as written against a live server and a real worker."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.models import Instance
from provisioning.services.access_keys import access_key_create

pytestmark = [pytest.mark.celery]
README = Path(__file__).resolve().parents[2] / "README.md"


def block(marker: str) -> str:
    """The fenced code block of the README whose first line holds `marker`."""
    for match in re.finditer(r"```(?:python|bash)\n(.*?)```", README.read_text(), re.S):
        if marker in match.group(1).splitlines()[0]:
            return match.group(1)
    raise AssertionError(f"no README block marked {marker}")


def _env(live_server, user, tmp_path) -> dict:
    created = access_key_create(user=user)
    return {**os.environ, "AWS_ACCESS_KEY_ID": created.access_key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": created.secret_access_key, "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
            "SKYPORT_EC2_ENDPOINT": f"{live_server.url}/ec2/", "AWS_PAGER": ""}


def test_readme_boto3_script(celery_worker, live_server, catalog, user, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(block("ec2-readme-script"))
    proc = subprocess.run([sys.executable, str(script)], env=_env(live_server, user, tmp_path), capture_output=True,
                          text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "terminated 2"
    assert len([line for line in lines if " running t3.small 10." in line]) == 2
    assert Instance.objects.filter(owner=user, state="terminated").count() == 2


def test_readme_awscli_commands(celery_worker, live_server, catalog, user, tmp_path):
    script = f'set -euo pipefail\naws() {{ "{sys.executable}" -m awscli "$@"; }}\n' + block("ec2-readme-cli")
    proc = subprocess.run(["bash", "-c", script], env=_env(live_server, user, tmp_path), capture_output=True,
                          text=True, timeout=280, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    inst = Instance.objects.get(owner=user)
    assert lines[0].split() == [inst.public_id, "running", str(inst.private_ip)]
    password = lines[1]
    assert len(password) >= 12 and password not in inst.password_data  # decrypted by awscli with admin.pem
    assert lines[2] == "shutting-down"
    assert inst.__class__.objects.get(pk=inst.pk).state == "terminated"
    assert (tmp_path / "admin.pem").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
