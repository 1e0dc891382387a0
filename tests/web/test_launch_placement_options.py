"""The request form's optional placement: availability zone and virtualization mode."""
from __future__ import annotations

import re
from html import unescape

import pytest

from provisioning.models import Host, Instance

from .conftest import launch_data
from .test_launch import field_errors

pytestmark = pytest.mark.django_db
URL = "/appliances/ubuntu-lamp/launch/"  # hardware-assisted, paravirtualization, binary translation, emulation


def options(body: str, field: str) -> list[tuple[str, str]]:
    """(value, label) of a select's options, in order."""
    select = re.search(rf'<select name="{field}"[^>]*>(.*?)</select>', body, re.S)
    assert select, f"no <select name={field}>"
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))


def test_form_lists_the_zones_and_only_the_appliance_modes(web, catalog):
    body = web.get(URL).content.decode()
    assert "Placement (optional)" in body
    assert options(body, "availability_zone") == [
        ("", "Any zone (the scheduler picks)"), ("sky-1a", "sky-1a"), ("sky-1b", "sky-1b")]
    assert options(body, "virt_mode") == [
        ("", "Fastest available"), ("hardware_assisted", "Hardware-assisted"),
        ("paravirtualization", "Paravirtualization"), ("binary_translation", "Binary translation"),
        ("emulation", "Emulation")]
    container = web.get("/appliances/redis-container/launch/").content.decode()
    assert options(container, "virt_mode") == [("", "Fastest available"), ("container", "Container")]


def test_posting_a_zone_and_a_mode_places_the_instance_there(web, catalog):
    response = web.post(URL, launch_data(availability_zone="sky-1b", virt_mode="paravirtualization"))
    inst = Instance.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/instances/{inst.public_id}/"
    assert (inst.availability_zone, inst.virt_mode) == ("sky-1b", "paravirtualization")
    assert inst.host.availability_zone == "sky-1b"


def test_a_zone_no_host_can_serve_explains_why_and_keeps_the_choices(web, catalog):
    Host.objects.filter(availability_zone="sky-1a").update(state="maintenance")
    response = web.post(URL, launch_data(availability_zone="sky-1a", virt_mode="emulation"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="capacity-error"' in body and "are in maintenance" in body
    assert "another availability zone or another virtualization mode." in body
    assert not Instance.objects.exists()
    assert re.search(r'<option value="sky-1a" selected>', body)  # what was chosen is kept
    assert re.search(r'<option value="emulation" selected>', body)


def test_a_mode_the_appliance_cannot_run_is_a_field_error(web, catalog):
    response = web.post(URL, launch_data(virt_mode="container", availability_zone="sky-9z"))
    body = unescape(response.content.decode())
    errors = field_errors(body, "virt_mode")
    assert errors and "Ubuntu LAMP cannot run in container mode" in errors[0]
    assert field_errors(body, "availability_zone") == ["No availability zone 'sky-9z'. Choose one of: sky-1a, sky-1b."]
    assert 'href="#id_virt_mode">Virtualization mode</a>' in body  # named in the summary at the top
    assert not Instance.objects.exists()
