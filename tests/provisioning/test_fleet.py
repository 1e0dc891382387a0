"""The synthetic fleet builder: bulk rows, an exact ledger, a fleet the scheduler can use."""
from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from provisioning.choices import LIVE_STATES
from provisioning.fixtures.fleet import fleet_build, fleet_clear
from provisioning.models import Claim, Host, Instance
from provisioning.placement.scheduler import mode_for
from provisioning.services.claims import ledger_audit
from tests.factories import instance_factory

pytestmark = pytest.mark.django_db


def test_build_fleet_command_writes_an_exact_ledger(cloud_catalog):
    out = io.StringIO()
    call_command("build_fleet", "--hosts", "40", "--instances", "300", "--zones", "2", "--audit", stdout=out)
    assert "Built fleet fl-*: 40 hosts, 300 instances (3 users)" in out.getvalue()
    assert "Ledger exact" in out.getvalue()
    assert Host.objects.count() == 40 and Instance.objects.count() == Claim.objects.count() == 300
    assert set(Instance.objects.values_list("state", flat=True)) <= {"running", "stopped"}
    assert set(Host.objects.values_list("availability_zone", flat=True)) == {"sky-1a", "sky-1b"}
    assert ledger_audit() == []
    pairs = Instance.objects.values_list("host_id", "private_ip")
    assert len(set(pairs)) == 300  # one address per instance on each host
    for inst in Instance.objects.select_related("host", "appliance", "instance_type")[:50]:
        assert inst.reservation.owner_id == inst.owner_id
        assert inst.virt_mode in inst.appliance.supported_modes and inst.virt_mode in inst.host.supported_modes


def test_the_scheduler_places_onto_a_built_fleet(cloud_catalog, user):
    fleet_build(hosts=30, instances=200, seed=3)
    (inst,) = instance_factory(user, instance_type="m5.large")
    assert inst.host.name.startswith("fl-") and inst.virt_mode == mode_for(inst.host, _req(inst))
    assert ledger_audit() == [] and Claim.objects.filter(instance__state__in=LIVE_STATES).count() == 201


def _req(inst):
    from provisioning.placement import PlacementRequest

    return PlacementRequest(appliance=inst.appliance, instance_type=inst.instance_type)


def test_same_seed_same_hardware_and_states(cloud_catalog):
    first = fleet_build(hosts=60, instances=0, seed=9, prefix="s")
    shape = list(Host.objects.order_by("name").values_list("name", "cpu_model", "state", "is_up"))
    fleet_clear(prefix="s")
    assert Host.objects.count() == 0
    fleet_build(hosts=60, instances=0, seed=9, prefix="s")
    assert list(Host.objects.order_by("name").values_list("name", "cpu_model", "state", "is_up")) == shape
    assert first.hosts == 60 and Counter(s for _, _, s, _ in shape)["enabled"] > 50


def test_an_existing_fleet_needs_replace(cloud_catalog):
    call_command("build_fleet", "--hosts", "5", "--instances", "20", stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists already; pass replace=True"):
        call_command("build_fleet", "--hosts", "5", "--instances", "20", stdout=io.StringIO())
    call_command("build_fleet", "--hosts", "6", "--instances", "30", "--replace", stdout=io.StringIO())
    assert (Host.objects.count(), Instance.objects.count(), Claim.objects.count()) == (6, 30, 30)
    assert ledger_audit() == []


def test_a_fleet_too_small_for_the_instances_is_refused(cloud_catalog):
    with pytest.raises(CommandError, match="The fleet is full after"):
        call_command("build_fleet", "--hosts", "1", "--instances", "5000", stdout=io.StringIO())
    assert Host.objects.count() == 0  # one transaction: nothing half-built
