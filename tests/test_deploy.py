"""Production settings from the environment (issue 12): `check --deploy` is clean, no default admin."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

BASE_DIR = Path(__file__).resolve().parent.parent
DEPLOY_ENV = {"DJANGO_DEBUG": "0", "DJANGO_ALLOWED_HOSTS": "cloud.example.org", "SKYPORT_HTTPS": "1"}


def _manage(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "SKYPORT_")) and k not in {"DATABASE_URL", "PYTEST_CURRENT_TEST"}}
    clean.update(SKYPORT_VAR_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=clean,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_reports_no_warning_with_the_production_variables(tmp_path):
    result = _manage("check", "--deploy", tmp_path=tmp_path,
                     env={**DEPLOY_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout + result.stderr


def test_check_deploy_names_what_is_missing_without_https(tmp_path):
    env = {**DEPLOY_ENV, "SKYPORT_HTTPS": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    result = _manage("check", "--deploy", tmp_path=tmp_path, env=env)
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout, check


def test_no_debug_and_a_secret_key_required_outside_the_demo(tmp_path):
    result = _manage("check", tmp_path=tmp_path, env={"DJANGO_DEBUG": "0"})
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr
    # the demo (make run) keeps a random key of its own under var/, readable by its owner only
    demo = _manage("check", tmp_path=tmp_path, env={"SKYPORT_DEMO": "1"})
    assert demo.returncode == 0, demo.stderr
    key = tmp_path / "secret-key"
    assert len(key.read_text().strip()) >= 50 and key.stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_the_seed_makes_no_admin_admin_outside_the_demo(settings, capsys):
    settings.SKYPORT_DEMO = False
    call_command("seed_demo")
    assert "Not creating the demo accounts" in capsys.readouterr().err
    assert not get_user_model().objects.filter(username__in=["admin", "demo"]).exists()
    from django.core.exceptions import ImproperlyConfigured

    from provisioning.fixtures.demo import demo_seed

    with pytest.raises(ImproperlyConfigured, match="only in the demo"):
        demo_seed(with_users=True)
    settings.SKYPORT_DEMO = True
    call_command("seed_demo")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin")


def test_the_demo_is_off_by_default_with_debug_off(tmp_path):
    probe = "import django; django.setup(); from django.conf import settings as s; print(s.DEBUG, s.SKYPORT_DEMO)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SKYPORT_"))}
    clean.update(SKYPORT_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="portal.settings",
                 DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    out = subprocess.run([sys.executable, "-c", probe], cwd=BASE_DIR, env=clean, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
