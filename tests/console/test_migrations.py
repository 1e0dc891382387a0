"""Live migration from the console: started from an instance (named host or the scheduler's choice),
its page with rounds, downtime and phases, abort and force-complete with the consequence shown first."""
from __future__ import annotations

import json
import re

import pytest

from provisioning.models import Host, Instance, Migration
from provisioning.pipeline import engine
from provisioning.services.claims import ledger_audit
from provisioning.services.launch import instance_launch
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db


def running_on(user, host: Host, itype: str = "t3.small", appliance: str = "ubuntu-lamp") -> Instance:
    others = list(Host.objects.exclude(pk=host.pk).filter(state="enabled").values_list("pk", flat=True))
    Host.objects.filter(pk__in=others).update(state="disabled")
    inst = instance_launch(user=user, appliance=appliance, instance_type=itype).reservation.instances.get()
    Host.objects.filter(pk__in=others).update(state="enabled")
    drain()
    inst.refresh_from_db()
    assert inst.state == "running" and inst.host_id == host.pk
    return inst


@pytest.fixture
def slow_pair(catalog):
    """hv-01 and hv-03 (same zone) on a slow link, so a guest needs several rounds."""
    Host.objects.filter(name__in=["hv-01", "hv-03"]).update(nic_mibps=80.0)
    return Host.objects.get(name="hv-01"), Host.objects.get(name="hv-03")


def advance(mig: Migration) -> str:
    mig.refresh_from_db()
    return engine.step_advance(kind="migration", object_id=mig.pk, seq=mig.step_seq)


def test_migrate_to_a_named_host_then_watch_it_complete(staff, user, slow_pair):
    src, dst = slow_pair
    inst = running_on(user, src)
    url = f"/console/instances/{inst.public_id}/migrate/"
    ask = staff.get(url)
    assert ask.status_code == 200 and "Live-migrate" in ask.content.decode()
    assert ">Let the scheduler choose</option>" in ask.content.decode()
    assert Migration.objects.count() == 0  # asking moved nothing
    r = staff.post(url, {"destination": dst.name, "confirm": "yes"})
    mig = Migration.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/console/migrations/{mig.public_id}/"
    assert mig.dest_host == dst and mig.destination_named and mig.requested_by == "root"

    page = staff.get(r["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in page and 'id="round-chart"' in page
    assert "uplot-1.6.32/uPlot.iife.min.js" in page and "js/console.js" in page
    drain()
    mig.refresh_from_db()
    assert mig.status == "completed", mig.reason
    live = staff.get(r["Location"], HTTP_HX_REQUEST="true")
    assert live.status_code == 286  # the last poll stops htmx
    body = live.content.decode()
    assert "Completed" in body and f"now runs on {dst.name}" in body
    rounds = json.loads(re.search(r'id="rounds-data" type="application/json">(.*?)</script>', body).group(1))
    assert [r["round"] for r in rounds] == list(range(mig.round)) and len(rounds) >= 3
    assert rounds[0]["sent_mib"] == pytest.approx(2048, abs=1)
    assert "Downtime against its limit" in body and f"{mig.downtime_ms:.0f} ms" in body
    assert body.count("<tr><td>") == len(rounds)  # the table says the same without JavaScript
    inst.refresh_from_db()
    assert inst.host_id == dst.pk and ledger_audit() == []
    listing = staff.get("/console/migrations/?status=completed").content.decode()
    assert mig.public_id in listing
    assert mig.public_id not in staff.get("/console/migrations/?status=failed").content.decode()


def test_let_the_scheduler_choose(staff, user, slow_pair):
    src, _dst = slow_pair
    inst = running_on(user, src)
    r = staff.post(f"/console/instances/{inst.public_id}/migrate/", {"destination": "", "confirm": "yes"})
    mig = Migration.objects.get()
    assert r.status_code == 302 and not mig.destination_named and mig.dest_host != src


def test_a_refused_migration_is_a_message(staff, user, slow_pair):
    src, _dst = slow_pair
    inst = running_on(user, src)
    Host.objects.exclude(pk=src.pk).update(state="disabled")
    r = staff.post(f"/console/instances/{inst.public_id}/migrate/", {"destination": "", "confirm": "yes"},
                   follow=True)
    assert r.status_code == 200 and 'class="alert alert-error"' in r.content.decode()
    assert "No destination" in r.content.decode() and Migration.objects.count() == 0


def test_force_complete_shows_the_predicted_downtime_before_confirming(staff, user, slow_pair):
    src, dst = slow_pair
    inst = running_on(user, src, itype="t3.medium", appliance="mysql-8")
    staff.post(f"/console/instances/{inst.public_id}/migrate/", {"destination": dst.name, "confirm": "yes"})
    mig = Migration.objects.get()
    while mig.status != "running" or mig.round < 1:
        assert advance(mig) == "done"
        mig.refresh_from_db()
    page = staff.get(f"/console/migrations/{mig.public_id}/").content.decode()
    assert "Force-complete (stop-and-copy)" in page and "Abort" in page
    ask = staff.post(f"/console/migrations/{mig.public_id}/force/", {"mode": "stop_and_copy"})
    body = ask.content.decode()
    predicted = re.search(r"Predicted downtime: (\d+) ms", body)
    assert ask.status_code == 200 and predicted, body
    mig.refresh_from_db()
    assert mig.force_mode == ""  # nothing applied yet
    staff.post(f"/console/migrations/{mig.public_id}/force/", {"mode": "stop_and_copy", "confirm": "yes"})
    drain()
    mig.refresh_from_db()
    assert mig.status == "completed" and abs(mig.downtime_ms - int(predicted.group(1))) <= 1
    assert ledger_audit() == []


def test_abort_is_confirmed_and_leaves_the_guest_on_the_source(staff, user, slow_pair):
    src, dst = slow_pair
    inst = running_on(user, src)
    staff.post(f"/console/instances/{inst.public_id}/migrate/", {"destination": dst.name, "confirm": "yes"})
    mig = Migration.objects.get()
    ask = staff.post(f"/console/migrations/{mig.public_id}/abort/")
    assert "keeps running on hv-01" in ask.content.decode()
    mig.refresh_from_db()
    assert mig.status == "accepted"
    staff.post(f"/console/migrations/{mig.public_id}/abort/", {"confirm": "yes"})
    drain()
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert mig.status == "cancelled" and inst.host_id == src.pk and ledger_audit() == []
    again = staff.post(f"/console/migrations/{mig.public_id}/abort/", {"confirm": "yes"}, follow=True)
    assert "already ended" in again.content.decode()


def test_a_non_converging_migration_says_so(staff, user, catalog):
    src, dst = Host.objects.get(name="hv-01"), Host.objects.get(name="hv-03")
    Host.objects.filter(pk__in=[src.pk, dst.pk]).update(nic_mibps=20.0)  # below the guest's dirty rate
    inst = running_on(user, Host.objects.get(pk=src.pk), itype="t3.medium", appliance="mysql-8")
    staff.post(f"/console/instances/{inst.public_id}/migrate/", {"destination": dst.name, "confirm": "yes"})
    mig = Migration.objects.get()
    said = False
    while not said and advance(mig) == "done":
        mig.refresh_from_db()
        if mig.status == "running" and not mig.converging:
            body = staff.get(f"/console/migrations/{mig.public_id}/", HTTP_HX_REQUEST="true").content.decode()
            line = body.split('id="status-line"')[1].split("</p>")[0]
            assert "Not converging." in line and "%" not in line and "ETA" in body and ">none<" in body
            said = True
    assert said, "the migration never reported that it was not converging"
    drain()
    mig.refresh_from_db()
    body = staff.get(f"/console/migrations/{mig.public_id}/").content.decode()
    assert mig.status == "failed" and "did not converge" in body and "keeps running on hv-01" in body
