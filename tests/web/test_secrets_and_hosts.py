"""Secrets at rest and what tenants see (issue 12): no private key in the database, sessions
included; user data from the browser in LF; security-group names like key-pair names; host names
hidden from tenants."""
from __future__ import annotations

import io

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from rest_framework.test import APIClient

from provisioning.exceptions import InvalidRequest
from provisioning.models import Instance, KeyPair
from provisioning.services.security_groups import security_group_create
from tests.fixtures_runtime import wait_for

pytestmark = pytest.mark.django_db

MARKERS = ("PRIVATE KEY", "gAAAAA")  # the PEM's armour; a Fernet token's prefix (a sealed secret)


def database_text() -> str:
    """Every row of every table as JSON, and every session decoded."""
    out = io.StringIO()
    call_command("dumpdata", stdout=out, verbosity=0)
    sessions = [str(s.get_decoded()) for s in Session.objects.all()]
    return out.getvalue() + "\n".join(sessions)


def _no_key_material(pem_body: str = "") -> None:
    text = database_text()
    for marker in MARKERS:
        assert marker not in text, marker
    if pem_body:
        assert pem_body not in text


def _create_key(web) -> KeyPair:
    response = web.post("/keypairs/", {"form": "create", "create-name": "laptop", "create-key_type": "ed25519"})
    assert response.status_code == 302
    return KeyPair.objects.get(name="laptop")


def _pem_body(page: str) -> str:
    start = page.index("BEGIN OPENSSH PRIVATE KEY-----") + len("BEGIN OPENSSH PRIVATE KEY-----")
    return page[start:start + 60].strip()[:40]


def test_a_new_private_key_never_reaches_the_database_and_goes_with_its_download(web):
    key = _create_key(web)
    page = web.get("/keypairs/").content.decode()
    body = _pem_body(page)
    _no_key_material(body)  # waiting for its download: sealed in the cache, not in the database
    download = web.get(f"/keypairs/{key.public_id}/download/")
    assert download.status_code == 200 and body in download.content.decode()
    _no_key_material(body)
    assert web.get(f"/keypairs/{key.public_id}/download/").status_code == 410


def test_an_expired_private_key_is_gone(web, settings):
    settings.SKYPORT_PRIVATE_KEY_TTL_S = 1
    key = _create_key(web)
    wait_for(lambda: web.get(f"/keypairs/{key.public_id}/download/").status_code == 410, timeout=30,
             interval=0.5, message="the key to expire")
    _no_key_material()
    assert "BEGIN OPENSSH PRIVATE KEY" not in web.get("/keypairs/").content.decode()


def test_a_launch_with_a_new_key_pair_keeps_no_key_either(web, catalog):
    from tests.web.conftest import launch_data

    response = web.post("/appliances/ubuntu-lamp/launch/", launch_data(key_mode="create", new_key_name="lap2"))
    assert response.status_code == 302
    page = web.get(response["Location"]).content.decode()
    assert "BEGIN OPENSSH PRIVATE KEY" in page
    _no_key_material(_pem_body(page))


def test_when_the_cache_is_down_the_key_is_shown_at_once_and_nothing_waits(web, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "set", down)
    response = web.post("/keypairs/", {"form": "create", "create-name": "laptop", "create-key_type": "ed25519"})
    page = response.content.decode()
    assert response.status_code == 200 and "BEGIN OPENSSH PRIVATE KEY" in page
    assert 'href="data:application/x-pem-file;base64,' in page and 'download="laptop.pem"' in page
    _no_key_material(_pem_body(page))


# --------------------------------------------------------------------------- user data, names
def test_user_data_from_the_browser_is_stored_with_lf_line_endings(web, catalog, user):
    from tests.web.conftest import launch_data

    script = "#!/bin/sh\r\necho hello\r\nexit 0\r\n"
    response = web.post("/appliances/ubuntu-lamp/launch/", launch_data(user_data=script))
    assert response.status_code == 302
    assert Instance.objects.get(owner=user).user_data == "#!/bin/sh\necho hello\nexit 0\n"


@pytest.mark.parametrize("name", ["web\x00", "web\nservers", "tab\there", "esc\x1b[31m", "é-accent", "x" * 256])
def test_security_group_names_are_restricted_like_key_pair_names(user, name):
    with pytest.raises(InvalidRequest) as err:
        security_group_create(user=user, name=name)
    assert "._-@+=,:/" in str(err.value.errors["name"])


def test_security_group_names_over_rest_are_refused_too(api):
    response = api.post("/api/v1/security-groups/", {"name": "bad\u0007bell"}, format="json")
    assert response.status_code == 400 and "name" in response.data


# --------------------------------------------------------------------------- hosts
@pytest.fixture
def running(catalog, user):
    from provisioning.services.launch import instance_launch
    from tests.fixtures_domain import drain

    inst = instance_launch(user=user, appliance="debian-12", instance_type="t3.micro").reservation.instances.get()
    drain()
    inst.refresh_from_db()
    return inst


def test_tenants_see_the_zone_not_the_host(running, user, web):
    host, zone = running.host.name, running.availability_zone
    api = APIClient()
    api.force_authenticate(user)
    data = api.get(f"/api/v1/instances/{running.public_id}/").data
    assert data["host"] is None and data["availability_zone"] == zone
    events = api.get(f"/api/v1/instances/{running.public_id}/events/").data["results"]
    assert events and all(e["host"] is None and host not in e["message"] for e in events)
    assert host not in api.get(f"/api/v1/instances/{running.public_id}/console/").data["output"]
    assert host in running.console_log or any(host in e.message for e in running.events.all())  # it was there
    for page in (f"/instances/{running.public_id}/", "/instances/"):
        body = web.get(page).content.decode()
        assert host not in body and zone in body


def test_staff_and_a_setting_show_the_host(running, user, staff_user, settings):
    host = running.host.name
    staff = APIClient()
    staff.force_authenticate(staff_user)
    assert staff.get(f"/api/v1/staff/instances/{running.public_id}/").data["host"] == host
    settings.SKYPORT_SHOW_HOSTS_TO_TENANTS = True
    tenant = APIClient()
    tenant.force_authenticate(user)
    assert tenant.get(f"/api/v1/instances/{running.public_id}/").data["host"] == host
