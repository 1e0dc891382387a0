"""My instances, instance detail, the live progress partial and actions (tenancy: test_tenancy)."""
from __future__ import annotations

import pytest
from django.test import Client

from provisioning.models import Instance
from provisioning.services import instances as svc
from provisioning.services.quotas import quota_set
from tests.factories import instance_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db


def test_empty_state_links_to_the_marketplace(web):
    body = web.get("/instances/").content.decode()
    assert "You have no instances yet" in body and 'href="/">Browse the marketplace' in body


def test_list_rows_badges_and_only_the_allowed_actions(web, catalog, user):
    (inst,) = instance_factory(user, name="db")
    body = web.get("/instances/").content.decode()
    assert inst.public_id in body and "badge badge-blue busy" in body and "scheduling" in body
    assert f"/instances/{inst.public_id}/actions/terminate/" in body
    assert f"/instances/{inst.public_id}/actions/stop/" not in body  # pending: only terminate
    assert 'hx-trigger="every 2s"' in body  # busy: rows refresh
    drain()
    body = web.get("/instances/").content.decode()
    assert "badge badge-green" in body and Instance.objects.get().private_ip in body
    for action in ("stop", "reboot", "terminate"):
        assert f"/instances/{inst.public_id}/actions/{action}/" in body
    assert f"/instances/{inst.public_id}/actions/start/" not in body
    assert 'hx-trigger="every 2s"' not in body  # nothing busy: no polling


def test_filter_by_state_and_fragment(web, catalog, user):
    first, second = instance_factory(user, 2)
    drain()
    svc.instance_action(user=user, instance=first, action="stop")
    drain()
    body = web.get("/instances/?state=stopped").content.decode()
    assert first.public_id in body and second.public_id not in body
    fragment = web.get("/instances/?state=running", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and second.public_id in fragment and first.public_id not in fragment
    body = web.get("/instances/?state=terminated").content.decode()
    assert "No instances match these filters" in body


def test_pagination_twenty_per_page(web, catalog, user):
    quota_set(user=user, instances=30, vcpus=30, memory_mib=30 * 1024)
    instance_factory(user, 25, appliance="debian-12", instance_type="t3.nano")
    first = web.get("/instances/").content.decode()
    assert first.count('<tr id="row-') == 20 and "1–20 of 25" in first and 'href="?page=2"' in first
    second = web.get("/instances/?page=2").content.decode()
    assert second.count('<tr id="row-') == 5


def test_progress_polls_while_busy_then_answers_286(web, catalog, user):
    (inst,) = instance_factory(user)
    page = web.get(inst.get_absolute_url()).content.decode()
    assert f'hx-get="/instances/{inst.public_id}/progress/" hx-trigger="every 1s"' in page
    assert 'class="current" aria-current="step">Scheduling' in page
    busy = web.get(f"/instances/{inst.public_id}/progress/", headers={"HX-Request": "true"})
    assert busy.status_code == 200 and 'hx-trigger="every 1s"' in busy.content.decode()
    drain()
    done = web.get(f"/instances/{inst.public_id}/progress/", headers={"HX-Request": "true"})
    body = done.content.decode()
    assert done.status_code == 286
    assert "hx-trigger" not in body and body.count('class="done"') == 5 and "<html" not in body
    assert "Set hostname to" in body  # the console log comes with the same poll
    assert f'<p id="instance-status" hx-swap-oob="innerHTML">{inst.public_id} is running.</p>' in body
    page = web.get(inst.get_absolute_url()).content.decode()
    assert "hx-trigger" not in page and 'id="progress-status">Finished' in page


def test_detail_shows_details_console_events_and_groups(web, catalog, user, settings):
    settings.SKYPORT_SHOW_HOSTS_TO_TENANTS = True  # (hidden by default: tests/web/test_secrets_and_hosts.py)
    (inst,) = instance_factory(user, name="box", appliance="debian-12", instance_type="t3.micro")
    drain()
    inst.refresh_from_db()
    body = web.get(inst.get_absolute_url()).content.decode()
    for text in (inst.public_id, "t3.micro", "Debian 12 Bookworm", inst.host.name, inst.availability_zone,
                 inst.private_ip, inst.hostname, "default", "TCP 22 from 0.0.0.0/0", "TCP 3389 from 0.0.0.0/0",
                 "instance.running", "Running on", 'class="console"', inst.reservation.public_id):
        assert text in body, text


def test_stop_start_reboot_and_terminate_with_confirmation(web, catalog, user):
    (inst,) = instance_factory(user)
    drain()
    url = f"/instances/{inst.public_id}/actions/"
    response = web.post(url + "stop/", {"next": "/instances/"})
    assert response.status_code == 302 and response["Location"] == "/instances/"
    assert Instance.objects.get().state == "stopping"
    assert "Stopping " + inst.public_id in web.get("/instances/").content.decode()
    drain()
    web.post(url + "start/")
    assert Instance.objects.get().state == "pending"
    drain()
    web.post(url + "reboot/")
    assert Instance.objects.get().task == "rebooting"
    drain()
    # Without confirmation (no JavaScript): a confirmation page, nothing happens yet.
    confirm = web.post(url + "terminate/")
    assert confirm.status_code == 200 and "Yes, terminate" in confirm.content.decode()
    assert Instance.objects.get().state == "running"
    web.post(url + "terminate/", {"confirm": "yes"})
    assert Instance.objects.get().state == "shutting-down"
    drain()
    assert Instance.objects.get().state == "terminated"


def test_forbidden_transition_is_a_message_not_an_error(web, catalog, user):
    (inst,) = instance_factory(user)
    drain()
    response = web.post(f"/instances/{inst.public_id}/actions/start/", follow=True)
    assert response.status_code == 200
    assert "cannot be started: it is running" in response.content.decode()
    assert web.post(f"/instances/{inst.public_id}/actions/explode/").status_code == 404


def test_actions_are_post_only_with_csrf(catalog, user):
    (inst,) = instance_factory(user)
    drain()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(f"/instances/{inst.public_id}/actions/stop/").status_code == 405
    assert client.post(f"/instances/{inst.public_id}/actions/stop/").status_code == 403
    assert Instance.objects.get().state == "running"
    page = client.get(inst.get_absolute_url()).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_failed_launch_shows_where_it_stopped(web, catalog, user, monkeypatch):
    from provisioning import driver

    def refuse(*args, **kwargs):
        raise RuntimeError("no bootable device")

    monkeypatch.setattr(driver, "boot_plan", refuse)
    (inst,) = instance_factory(user)
    drain()
    body = web.get(inst.get_absolute_url()).content.decode()
    assert "Launch failed." in body and "no bootable device" in body
    assert 'class="failed"' in body and "Booting" in body
    assert web.get(f"/instances/{inst.public_id}/progress/").status_code == 286
