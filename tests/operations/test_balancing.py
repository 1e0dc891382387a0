"""Workload balancing: the imbalance figure, recommendations from the placement filters, the guards
(benefit beats cost, destination stays below the source, cooldown, at most N moves)."""
from __future__ import annotations

import pytest
from django.test import override_settings

from provisioning import driver
from provisioning.models import Host, Migration
from provisioning.services.balancing import balancing_recommend
from provisioning.services.claims import ledger_audit

from .conftest import pack

pytestmark = pytest.mark.django_db


@pytest.fixture
def skewed(catalog, user):
    """Sixteen m5.large guests (8 GiB, 2 vCPU each) on hv-01, every other host empty."""
    return pack(user, "hv-01", 16)


def _loads() -> dict:
    return {h.name: (h.memory_mib_used, h.memory_mib_limit, h.vcpus_used, h.vcpus_limit)
            for h in Host.objects.filter(state="enabled", is_up=True)}


def test_imbalance_is_the_deviation_of_the_schedulable_hosts_loads(skewed):
    plan = balancing_recommend()
    assert plan.imbalance == pytest.approx(driver.fleet_imbalance(_loads()), abs=1e-4)
    assert plan.imbalance > 0
    assert plan.hosts == Host.objects.filter(state="enabled").count()
    assert plan.loads["hv-01"] == max(plan.loads.values())


def test_recommendations_lower_the_imbalance_and_never_overload_a_destination(skewed):
    plan = balancing_recommend(max_moves=6)
    recs = plan.recommendations
    assert 1 <= len(recs) <= 6
    assert plan.imbalance_after < plan.imbalance
    for rec in recs:
        assert rec.source == "hv-01" and rec.destination != "hv-01"
        assert rec.imbalance_after < rec.imbalance_before
        assert rec.destination_load_after < rec.source_load_after
        assert rec.memory_to_copy_mib == 8192 and 1 <= rec.priority <= 5
        assert "hv-01" in rec.reason and rec.owner == "alice"
        dest = Host.objects.get(name=rec.destination)
        assert dest.availability_zone == "sky-1a"  # the guest keeps its zone
    # Each recommendation starts where the previous left off, and no guest appears twice.
    for a, b in zip(recs, recs[1:], strict=False):
        assert b.imbalance_before == pytest.approx(a.imbalance_after, abs=1e-4)
    assert len({r.instance for r in recs}) == len(recs)
    assert ledger_audit() == []  # recommending claims nothing


def test_destinations_come_from_the_placement_filters(skewed):
    # Every other sky-1a host in maintenance or disabled: the filters leave no destination in the zone.
    Host.objects.filter(availability_zone="sky-1a").exclude(name="hv-01").update(state="disabled")
    plan = balancing_recommend()
    assert plan.recommendations == []
    Host.objects.filter(name="hv-03").update(state="enabled")
    plan = balancing_recommend(max_moves=10)
    assert {r.destination for r in plan.recommendations} == {"hv-03"}
    # ...and hv-03 never ends above hv-01: the moves stop before the two cross.
    last = plan.recommendations[-1]
    assert last.destination_load_after < last.source_load_after


def test_at_most_max_moves_and_threshold_levels(skewed):
    assert len(balancing_recommend(max_moves=2).recommendations) == 2
    one = balancing_recommend(threshold=1, max_moves=20)
    five = balancing_recommend(threshold=5, max_moves=20)
    assert one.target_imbalance > five.target_imbalance
    assert len(one.recommendations) <= len(five.recommendations)
    assert all(r.priority <= 1 for r in one.recommendations)


def test_a_balanced_fleet_gets_no_recommendation(catalog):
    plan = balancing_recommend(threshold=5)
    assert plan.imbalance == 0 and plan.recommendations == []
    assert "nothing to recommend" in plan.message


def test_cost_beats_benefit_means_no_move(skewed):
    with override_settings(SKYPORT_BALANCING={**_cfg(), "cost_factor": 1000.0}):
        plan = balancing_recommend()
    assert plan.recommendations == [] and "costs more than it gains" in plan.message


def test_a_guest_migrated_within_the_cooldown_stays_put(skewed):
    first = balancing_recommend(max_moves=1).recommendations[0]
    inst = next(g for g in skewed if g.public_id == first.instance)
    host = Host.objects.get(name="hv-01")
    Migration.objects.create(instance=inst, source_host=host, dest_host=Host.objects.get(name=first.destination),
                             status="completed", downtime_limit_ms=500)
    again = balancing_recommend(max_moves=10)
    assert first.instance not in {r.instance for r in again.recommendations}
    with override_settings(SKYPORT_BALANCING={**_cfg(), "cooldown_s": 0}):
        assert first.instance in {r.instance for r in balancing_recommend(max_moves=16).recommendations}


def _cfg() -> dict:
    from django.conf import settings

    return dict(settings.SKYPORT_BALANCING)


def test_an_sr_iov_guest_is_never_recommended(catalog, user):
    """Only SR-IOV guests on the skewed host: a live migration cannot move them, so nothing is offered."""
    pack(user, "hv-01", 12, instance_type="c5n.large")
    plan = balancing_recommend()
    assert plan.imbalance > 0 and plan.recommendations == []
