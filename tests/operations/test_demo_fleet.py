"""`make run`'s seed: a fleet where a few guests already run, on an exact ledger, seeded once."""
from __future__ import annotations

import pytest
from django.test import override_settings

from provisioning.fixtures.demo import DEMO_GUESTS, demo_seed
from provisioning.models import Instance
from provisioning.services.claims import ledger_audit
from provisioning.services.maintenance import maintenance_preflight

pytestmark = pytest.mark.django_db


@override_settings(SKYPORT_DEMO=True)  # the demo users exist only in the demo
def test_demo_seed_starts_with_running_guests_that_can_be_drained():
    made = demo_seed(with_users=True)
    assert made["guests"] == len(DEMO_GUESTS)
    guests = Instance.objects.filter(owner__username="demo")
    assert guests.count() == len(DEMO_GUESTS)
    on_hv01 = guests.filter(host__name="hv-01")
    assert on_hv01.filter(state="running").count() == 4 and on_hv01.filter(state="stopped").count() == 1
    for inst in guests:
        assert inst.private_ip and inst.virt_mode and inst.launched_at and "Set hostname" in inst.console_log
        assert inst.boot_plan["applied"]
    assert ledger_audit() == []
    plan = maintenance_preflight(host=on_hv01.first().host)
    assert plan.feasible and len(plan.guests) == 5
    again = demo_seed(with_users=True)  # idempotent
    assert "guests" not in again and Instance.objects.count() == len(DEMO_GUESTS)
