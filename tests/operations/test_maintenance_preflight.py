"""Maintenance preflight: where every guest would go (the placement filters decide), what it costs,
and for a guest that cannot move, why; nothing is claimed or moved."""
from __future__ import annotations

import pytest

from provisioning.models import Claim, Host, PlacementGroup
from provisioning.services.claims import ledger_audit
from provisioning.services.instances import instance_action
from provisioning.services.maintenance import maintenance_preflight
from tests.fixtures_domain import drain

from .conftest import pack

pytestmark = pytest.mark.django_db


def _only(zone_hosts: list[str], zone: str = "sky-1a") -> None:
    """Leave only these hosts of the zone enabled."""
    Host.objects.filter(availability_zone=zone).exclude(name__in=zone_hosts).update(state="disabled")


def test_every_guest_gets_a_destination_cost_and_prediction(catalog, user):
    guests = pack(user, "hv-01", 6)
    instance_action(user=user, instance=guests[0], action="stop")
    drain()
    claims = Claim.objects.count()
    plan = maintenance_preflight(host=Host.objects.get(name="hv-01"))
    assert plan.feasible and plan.host_state == "enabled"
    assert len(plan.guests) == 6
    by_id = {g.instance: g for g in plan.guests}
    stopped = by_id[guests[0].public_id]
    assert stopped.action == "re-home" and stopped.memory_to_copy_mib == 0 and stopped.destination
    live = [g for g in plan.guests if g.action == "live-migrate"]
    assert len(live) == 5
    for g in live:
        dest = Host.objects.get(name=g.destination)
        assert dest.name != "hv-01" and dest.availability_zone == "sky-1a"
        assert g.memory_to_copy_mib == 8192 and g.predicted_s > 0 and g.predicted_downtime_ms is not None
    assert plan.memory_to_copy_mib == 5 * 8192
    assert plan.predicted_total_s >= max(g.predicted_start_s + g.predicted_s for g in live) - 0.01
    assert plan.concurrency == 8  # hv-01 has a 10 GbE link
    assert "5 to live-migrate" in plan.message
    assert Claim.objects.count() == claims and ledger_audit() == []  # a dry run claims nothing


def test_claims_of_the_hosts_other_guests_are_accounted_for(catalog, user):
    pack(user, "hv-03", 2, instance_type="r5.2xlarge")  # 64 GiB each: 126 GiB left on hv-03
    pack(user, "hv-01", 3, instance_type="r5.2xlarge")
    _only(["hv-01", "hv-03"])
    plan = maintenance_preflight(host=Host.objects.get(name="hv-01"))
    # One of hv-01's guests fits in what hv-03 has left; once it is counted there, the others do not.
    placed = [g for g in plan.guests if g.destination == "hv-03"]
    stuck = [g for g in plan.guests if g.action == "cannot move"]
    assert len(placed) == 1 and len(stuck) == 2
    assert not plan.feasible and "Refused: 2 guest(s) cannot move" in plan.message
    for g in stuck:
        assert "hv-03" in g.reason and "full once the host's larger guests are placed" in g.reason


def test_refusal_names_the_filter_that_refuses(catalog, user):
    pack(user, "hv-01", 2)  # hardware-assisted guests
    _only(["hv-01", "hv-17"])  # hv-17 has no VT-x
    plan = maintenance_preflight(host=Host.objects.get(name="hv-01"))
    assert not plan.feasible
    for g in plan.guests:
        assert g.action == "cannot move" and g.destination is None
        assert "VT-x" in g.reason and "hardware-assisted" in g.reason


def test_strict_affinity_pins_the_group_to_its_host(catalog, user):
    PlacementGroup.objects.create(owner=user, name="db", strategy="affinity", strict=True)
    pack(user, "hv-01", 2, placement_group="db")
    plan = maintenance_preflight(host=Host.objects.get(name="hv-01"))
    assert not plan.feasible
    assert all("strict affinity" in g.reason for g in plan.guests)


def test_an_empty_host(catalog):
    plan = maintenance_preflight(host=Host.objects.get(name="hv-02"))
    assert plan.feasible and plan.guests == [] and "at once" in plan.message


def test_predicted_destinations_spread_like_the_scheduler(catalog, user):
    pack(user, "hv-01", 4)
    plan = maintenance_preflight(host=Host.objects.get(name="hv-01"))
    # The same free-memory ranking the scheduler applies, with this plan's earlier guests counted.
    assert len({g.destination for g in plan.guests}) == 4


def test_an_sr_iov_guest_cannot_live_migrate_and_says_so(catalog, user):
    """An SR-IOV virtual function pins a running guest to its host (the simulator's rule); stopped,
    it is re-homed without a memory copy like any stopped guest."""
    sriov, web = pack(user, "hv-01", 1, instance_type="c5n.large") + pack(user, "hv-01", 1)
    plan = maintenance_preflight(host=Host.objects.get(name="hv-01"))
    by_id = {g.instance: g for g in plan.guests}
    assert by_id[web.public_id].action == "live-migrate"
    pinned = by_id[sriov.public_id]
    assert pinned.action == "cannot move" and pinned.destination is None
    assert "SR-IOV" in pinned.reason and "stop it" in pinned.reason
    assert not plan.feasible and "Refused: 1 guest(s) cannot move" in plan.message
    instance_action(user=user, instance=sriov, action="stop")
    drain()
    again = {g.instance: g for g in maintenance_preflight(host=Host.objects.get(name="hv-01")).guests}
    assert again[sriov.public_id].action == "re-home" and again[sriov.public_id].memory_to_copy_mib == 0


def test_guests_of_one_shape_are_placed_with_one_window_read_per_destination_count(catalog, user):
    """The dry run claims nothing, so guests of the same image, type and zone share their candidate
    windows (`candidates(memo=...)`): the reads grow with the destinations the plan fills, not the guests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    pack(user, "hv-01", 12, instance_type="t3.small")
    with CaptureQueriesContext(connection) as ctx:
        plan = maintenance_preflight(host=Host.objects.get(name="hv-01"))
    assert plan.feasible and len(plan.guests) == 12
    destinations = {g.destination for g in plan.guests}
    # A few fixed reads (the host, its guests, the destinations' hardware...), then one window per count of
    # destinations the plan has filled so far (0 to 5), where it was one per guest.
    assert len(ctx.captured_queries) <= 4 + (len(destinations) + 1) < 12, [q["sql"] for q in ctx.captured_queries]
