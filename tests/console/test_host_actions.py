"""Host actions from the console: disable and enable with a reason, through the hosts service."""
from __future__ import annotations

import pytest

from provisioning.models import Event, Host

pytestmark = pytest.mark.django_db


def test_disable_with_a_reason_then_enable(staff, catalog):
    host = Host.objects.order_by("name").first()
    r = staff.post(f"/console/hosts/{host.name}/state/disable/", {"reason": "DIMM errors, OPS-12"}, follow=True)
    assert r.status_code == 200 and f"{host.name} disabled." in r.content.decode()
    host.refresh_from_db()
    assert host.state == "disabled"
    assert Event.objects.filter(action="host.disable", host=host, actor="root").exists()
    assert "DIMM errors, OPS-12" in staff.get("/console/").content.decode()  # the overview says why
    assert "disabled: DIMM errors, OPS-12" in staff.get(f"/console/hosts/{host.name}/").content.decode()

    r = staff.post(f"/console/hosts/{host.name}/state/enable/", {"reason": ""}, follow=True)
    host.refresh_from_db()
    assert host.state == "enabled" and f"{host.name} enabled." in r.content.decode()


def test_disabling_without_a_reason_is_refused_with_a_message(staff, catalog):
    host = Host.objects.order_by("name").first()
    r = staff.post(f"/console/hosts/{host.name}/state/disable/", {"reason": " "}, follow=True)
    assert r.status_code == 200
    assert "Say why" in r.content.decode() and 'class="alert alert-error"' in r.content.decode()
    host.refresh_from_db()
    assert host.state == "enabled"


def test_host_actions_are_staff_only_and_post_only(staff, tenant, catalog):
    host = Host.objects.order_by("name").first()
    assert tenant.post(f"/console/hosts/{host.name}/state/disable/", {"reason": "x"}).status_code == 403
    assert staff.get(f"/console/hosts/{host.name}/state/disable/").status_code == 405
    assert staff.post(f"/console/hosts/{host.name}/state/reboot/").status_code == 404
    assert staff.post("/console/hosts/no-such-host/state/disable/", {"reason": "x"}).status_code == 404
    host.refresh_from_db()
    assert host.state == "enabled"
