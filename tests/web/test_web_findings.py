"""QA findings in the web UI, each pinned by a test (server-side; the browser ones are next door)."""
from __future__ import annotations

import pytest

from provisioning.models import Instance, KeyPair, SecurityGroup
from provisioning.services import instances as svc
from provisioning.services.keypairs import keypair_import, pem_filename
from tests.factories import instance_factory
from tests.fixtures_domain import drain
from tests.web.conftest import launch_data

pytestmark = pytest.mark.django_db

LAUNCH = "/appliances/ubuntu-lamp/launch/"


def _errors_named(body: str) -> set[str]:
    """Labels linked from the error summary at the top of the form."""
    import re

    summary = body.split('id="form-errors"', 1)[1].split("</div>", 1)[0]
    return set(re.findall(r'<a href="#[^"]+">([^<]+)</a>', summary))


# --------------------------------------------------------------------------- launch form: every bad field at once
def test_a_bad_count_does_not_hide_the_services_verdict_on_name_and_user_data(web, catalog):
    resp = web.post(LAUNCH, launch_data(count="0", name="bad/name", user_data="x" * 17_000))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert _errors_named(body) == {"Number of instances", "Name", "User data"}
    assert "User data is 17000 bytes; the limit is 16 KiB" in body
    assert Instance.objects.count() == 0 and KeyPair.objects.count() == 0


def test_the_precheck_does_not_repeat_what_the_form_already_said(web, catalog, user, public_key):
    keypair_import(user=user, name="laptop", public_key=public_key)
    resp = web.post(LAUNCH, launch_data(count="-1", instance_type="x9.huge", key_mode="existing", key_name="laptop"))
    body = resp.content.decode()
    assert _errors_named(body) == {"Number of instances", "Instance type"}
    assert "Select a valid choice. x9.huge" in body
    assert "Choose an instance type." not in body  # the service's view of the same field is dropped
    assert Instance.objects.count() == 0


def test_the_precheck_never_sends_a_nul_byte_to_the_database(web, catalog):
    resp = web.post(LAUNCH, launch_data(count="0", name="a\x00b", instance_type="t3.\x00", user_data="\x00"))
    assert resp.status_code == 200
    assert Instance.objects.count() == 0


def test_too_many_rule_rows_are_refused_with_nothing_created(web, catalog):
    rows = 61
    resp = web.post(LAUNCH, launch_data(rule_protocol=["tcp"] * rows, rule_ports=[str(1000 + i) for i in range(rows)],
                                        rule_cidr=["0.0.0.0/0"] * rows))
    assert resp.status_code == 200
    assert "At most 60 rules per security group; remove 1 rows." in resp.content.decode()
    assert Instance.objects.count() == 0 and SecurityGroup.objects.filter(name__startswith="launch-").count() == 0


# --------------------------------------------------------------------------- key file names
@pytest.mark.parametrize(("name", "filename"), [
    ("laptop", "laptop.pem"), ("qa laptop", "qa_laptop.pem"), ("a/b", "a_b.pem"), ("ci.key-1_x", "ci.key-1_x.pem"),
    ("..", "key.pem"), ("", "key.pem"),
])
def test_pem_filename(name, filename):
    assert pem_filename(name) == filename


def test_the_chmod_hint_names_the_file_the_download_saves(web):
    web.post("/keypairs/", {"form": "create", "create-name": "qa laptop", "create-key_type": "ed25519"})
    body = web.get("/keypairs/").content.decode()
    assert "<code>chmod 400 qa_laptop.pem</code>" in body and "Download qa_laptop.pem (once)" in body
    assert "qa laptop.pem" not in body
    kp = KeyPair.objects.get(name="qa laptop")
    resp = web.get(f"/keypairs/{kp.public_id}/download/")
    assert resp["Content-Disposition"] == 'attachment; filename="qa_laptop.pem"'


def test_the_ssh_hint_names_the_same_file(web, catalog, user, public_key):
    keypair_import(user=user, name="qa laptop", public_key=public_key)
    (inst,) = instance_factory(user, appliance="debian-12", instance_type="t3.micro", key_name="qa laptop")
    drain()
    inst.refresh_from_db()
    body = web.get(inst.get_absolute_url()).content.decode()
    assert f"ssh -i qa_laptop.pem {inst.login_user}@{inst.private_ip}" in body


# --------------------------------------------------------------------------- released addresses
def test_a_terminated_instance_no_longer_shows_its_released_ip_in_the_list(web, catalog, user):
    (old,) = instance_factory(user, appliance="debian-12", instance_type="t3.micro", name="old")
    drain()
    old.refresh_from_db()
    ip = old.private_ip
    svc.instance_action(user=user, instance=old, action="terminate")
    drain()
    body = web.get("/instances/").content.decode()
    assert ip not in body and "released when the instance was terminated" in body
    detail = web.get(old.get_absolute_url()).content.decode()
    assert f"{ip} <span class=\"muted small\">(released)</span>" in detail


# --------------------------------------------------------------------------- assets
def test_favicon_ico_redirects_to_a_served_icon(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 301 and resp["Location"] == "/static/img/skyport.svg"
    icon = client.get(resp["Location"])
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)


def test_the_instance_filter_has_no_inline_grid_that_defeats_the_narrow_layout(web, catalog, user):
    instance_factory(user, appliance="debian-12", instance_type="t3.micro")
    body = web.get("/instances/").content.decode()
    assert 'class="filters filters-instances card"' in body and "grid-template-columns" not in body


# --------------------------------------------------------------------------- progress title after a restart
@pytest.mark.parametrize(("actions", "title", "steps"), [
    ([], "Launch progress", 5),
    (["reboot"], "Reboot progress", 2),
    (["stop", "start"], "Start progress", 4),
    (["reboot", "stop", "start"], "Start progress", 4),
    (["stop", "start", "reboot"], "Reboot progress", 2),
])
def test_the_progress_card_names_what_last_happened(web, catalog, user, actions, title, steps):
    (inst,) = instance_factory(user, appliance="debian-12", instance_type="t3.micro")
    drain()
    for action in actions:
        svc.instance_action(user=user, instance=Instance.objects.get(pk=inst.pk), action=action)
        drain()
    body = web.get(inst.get_absolute_url()).content.decode()
    assert f'<h2 id="progress-title">{title}</h2>' in body
    assert body.count('<li class="done"') == steps
