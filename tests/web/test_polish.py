"""QA polish: the launch flash goes away when the work is over, unknown filter values are named,
and the start progress bar follows the instance's task."""
from __future__ import annotations

import re
from html import unescape

import pytest

from provisioning.models import Instance
from provisioning.pipeline import engine
from provisioning.services import instances as svc
from tests.factories import reservation_factory
from tests.fixtures_domain import drain
from tests.web.conftest import launch_data

pytestmark = pytest.mark.django_db


def _steps(body: str) -> list[tuple[str, str]]:
    bar = body.split('class="steps"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<li class="(\w+)"[^>]*>([^<]+)<', bar)


# --------------------------------------------------------------------------- 1. launch flash
def test_launch_flash_is_removed_out_of_band_by_the_final_poll(web, catalog):
    response = web.post("/appliances/debian-12/launch/", launch_data(instance_type="t3.micro"), follow=True)
    inst = Instance.objects.get()
    page = response.content.decode()
    assert f'<li id="flash-{inst.public_id}" class="alert alert-success"' in page  # shown on the first load
    assert f"Launching {inst.public_id}" in page
    busy = web.get(f"/instances/{inst.public_id}/progress/", headers={"HX-Request": "true"}).content.decode()
    assert f'id="flash-{inst.public_id}"' not in busy  # still launching: the flash stays
    drain()
    final = web.get(f"/instances/{inst.public_id}/progress/", headers={"HX-Request": "true"})
    assert final.status_code == 286
    assert f'<div id="flash-{inst.public_id}" hx-swap-oob="delete"></div>' in final.content.decode()
    reload = web.get(f"/instances/{inst.public_id}/").content.decode()
    assert f"Launching {inst.public_id}" not in reload  # a Django message: gone on the next load
    # ...and the page still has a target for that delete, so htmx reports no missing OOB target.
    assert f'<div id="flash-{inst.public_id}" hidden></div>' in reload


def test_action_flash_is_tagged_for_removal_too(web, catalog, user):
    reservation = reservation_factory(user, appliance="debian-12", instance_type="t3.micro")
    drain()
    inst = reservation.instances.get()
    page = web.post(f"/instances/{inst.public_id}/actions/stop/", follow=True).content.decode()
    assert f'<li id="flash-{inst.public_id}"' in page and f"Stopping {inst.public_id}" in page
    assert f'<div id="flash-{inst.public_id}" hidden>' not in page  # no duplicate id


# --------------------------------------------------------------------------- 2. unknown filter values
@pytest.mark.parametrize("url, notice, field", [
    ("/?architecture=zzz", "Unknown architecture 'zzz' — showing all architectures.", "architecture"),
    ("/?os_family=nope", "Unknown operating system 'nope' — showing all operating systems.", "os_family"),
    ("/?virt_mode=x", "Unknown virtualization mode 'x' — showing all virtualization modes.", "virt_mode"),
])
def test_marketplace_names_an_unknown_filter_value(client, catalog, url, notice, field):
    response = client.get(url)
    assert response.status_code == 200
    body = unescape(response.content.decode())
    assert notice in body
    assert f'name="{field}" aria-describedby="err-{field}" aria-invalid="true"' in body
    assert re.search(rf'<div id="err-{field}"><ul class="errorlist"><li>Unknown [^<]+: pick one from the list\.', body)
    everything = client.get("/").content.decode()
    assert re.search(r"<strong>(\d+)</strong> appliance", body).group(1) == \
        re.search(r"<strong>(\d+)</strong> appliance", everything).group(1)  # showing all


def test_marketplace_fragment_clears_a_stale_field_error_out_of_band(client, catalog):
    fragment = client.get("/?architecture=x86_64", headers={"HX-Request": "true"}).content.decode()
    assert '<div id="err-architecture" hx-swap-oob="true"></div>' in fragment and "Unknown" not in fragment
    bad = unescape(client.get("/?virt_mode=x", headers={"HX-Request": "true"}).content.decode())
    assert "Unknown virtualization mode 'x'" in bad and '<div id="err-virt_mode" hx-swap-oob="true"><ul' in bad


def test_marketplace_valid_filters_show_no_notice(client, catalog):
    body = client.get("/?architecture=x86_64&os_family=linux").content.decode()
    assert "Unknown" not in body and 'aria-invalid="true"' not in body


def test_instances_names_an_unknown_state(web, catalog, user):
    reservation_factory(user, appliance="debian-12", instance_type="t3.micro")
    drain()
    response = web.get("/instances/?state=bogus")
    assert response.status_code == 200
    body = unescape(response.content.decode())
    assert "Unknown state 'bogus' — showing all states." in body
    assert 'aria-invalid="true"' in body and "pick one from the list" in body
    assert Instance.objects.get().public_id in body  # all instances listed
    fragment = web.get("/instances/?state=running", headers={"HX-Request": "true"}).content.decode()
    assert '<div id="err-state" hx-swap-oob="true"></div>' in fragment and "Unknown" not in fragment


# --------------------------------------------------------------------------- 3. start progress
def test_start_progress_follows_the_task(web, catalog, user):
    reservation = reservation_factory(user, appliance="debian-12", instance_type="t3.micro")
    drain()
    inst = reservation.instances.get()
    svc.instance_action(user=user, instance=inst, action="stop")
    drain()
    svc.instance_action(user=user, instance=inst, action="start")
    seen = []
    while True:
        inst.refresh_from_db()
        body = web.get(f"/instances/{inst.public_id}/progress/").content.decode()
        current = [label for status, label in _steps(body) if status == "current"]
        seen.append((inst.task, current))
        assert "Start progress" in body
        if not inst.step:
            break
        engine.step_advance(kind="instance", object_id=inst.pk, seq=inst.step_seq)
    assert seen == [("powering_on", ["Powering on"]), ("booting", ["Booting"]),
                    ("configuring", ["Configuring"]), ("", [])]
