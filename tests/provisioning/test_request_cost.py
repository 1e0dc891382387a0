"""The cost of one request transaction: a pinned query count, and the shortcuts it relies on
(addresses picked in SQL, one INSERT for groups and for events) doing what the slow path did."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning.choices import HostState
from provisioning.exceptions import InsufficientCapacity
from provisioning.models import Event, Host, Instance, Reservation
from provisioning.services import instances as svc
from provisioning.services.claims import ledger_audit
from provisioning.services.launch import instance_launch, launch_validate, reservation_create
from provisioning.services.quotas import quota_set
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db

# BEGIN (a savepoint inside the test's transaction), default group, reservation, quota row lock,
# usage, instance, placement decision, claim (one statement on PostgreSQL; a conditional
# UPDATE and an INSERT on SQLite), placement record (the address computed in it on PostgreSQL; a
# SELECT and an UPDATE on SQLite), group links, events, COMMIT. It was 16 on PostgreSQL before.
EXPECTED_QUERIES = {"postgresql": 12, "sqlite": 14}


def _spec(user, **kw):
    return launch_validate(user=user, appliance="debian-12", instance_type="t3.small", **kw)


def _sql(queries) -> list[str]:
    return [q["sql"] for q in queries]


def test_one_request_runs_a_pinned_number_of_queries(catalog, user, _capture_dispatch,
                                                    django_capture_on_commit_callbacks):
    reservation_create(user=user, spec=_spec(user))  # the first one also makes the quota row and group
    spec = _spec(user)
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as ctx:
        reservation = reservation_create(user=user, spec=spec)
    assert connection.vendor in EXPECTED_QUERIES, f"pin the query count for {connection.vendor} too"
    expected = EXPECTED_QUERIES[connection.vendor]
    assert len(ctx.captured_queries) == expected, "\n".join(_sql(ctx.captured_queries))
    inst = reservation.instances.get()
    assert inst.host_id and inst.private_ip and inst.step == "copy_image" and inst.step_seq == 1
    assert inst.step_due_at is not None
    assert [s[:3] for s in _capture_dispatch][-1] == ("instance", inst.pk, 1)


def test_three_instances_cost_no_more_than_three_requests(catalog, user):
    reservation_create(user=user, spec=_spec(user))
    with CaptureQueriesContext(connection) as one:
        reservation_create(user=user, spec=_spec(user))
    with CaptureQueriesContext(connection) as three:
        reservation = reservation_create(user=user, spec=_spec(user, min_count=3, max_count=3))
    # The group links and the events of all three go in one INSERT each.
    assert len(three.captured_queries) <= 3 * len(one.captured_queries) - 4
    assert reservation.instances.count() == 3
    for inst in reservation.instances.all():
        assert [g.name for g in inst.security_groups.all()] == ["default"]
        assert list(inst.events.order_by("id").values_list("action", flat=True)) == [
            "instance.request", "instance.scheduled"]
        assert inst.events.get(action="instance.scheduled").host_id == inst.host_id
        assert inst.events.get(action="instance.request").actor == user.username


def _single_host() -> Host:
    host = Host.objects.order_by("name").first()
    Host.objects.exclude(pk=host.pk).update(state=HostState.DISABLED)
    return host


def test_addresses_are_the_lowest_free_and_come_back_after_terminate(catalog, user):
    host = _single_host()
    quota_set(user=user, instances=100, vcpus=1000, memory_mib=10**7)
    prefix = host.network_cidr.rsplit(".", 1)[0]
    insts = list(reservation_create(user=user, spec=_spec(user, min_count=3, max_count=3))
                 .instances.order_by("id"))
    assert [i.private_ip for i in insts] == [f"{prefix}.4", f"{prefix}.5", f"{prefix}.6"]
    assert [i.hostname for i in insts] == [f"ip-{prefix.replace('.', '-')}-{n}" for n in (4, 5, 6)]
    fresh = Instance.objects.get(pk=insts[0].pk)
    assert (fresh.private_ip, fresh.hostname, fresh.host_id, fresh.mac_address) == (
        insts[0].private_ip, insts[0].hostname, host.pk, insts[0].mac_address)
    assert fresh.virt_mode and fresh.availability_zone == host.availability_zone
    drain()
    svc.instance_action(user=user, instance=insts[1], action="terminate")
    drain()
    named = reservation_create(user=user, spec=_spec(user, name="Web Front")).instances.get()
    assert (named.private_ip, named.hostname) == (f"{prefix}.5", "web-front")
    assert ledger_audit() == []


def test_a_full_address_pool_moves_the_claim_to_the_next_host(catalog, user):
    host = _single_host()
    Host.objects.filter(pk=host.pk).update(network_cidr="10.99.0.0/29")  # .4 .5 .6: three addresses
    spare = Host.objects.exclude(pk=host.pk).order_by("name").first()
    Host.objects.filter(pk=spare.pk).update(state=HostState.ENABLED)
    quota_set(user=user, instances=100, vcpus=1000, memory_mib=10**7)
    Host.objects.filter(pk=spare.pk).update(state=HostState.DISABLED)
    reservation_create(user=user, spec=_spec(user, min_count=3, max_count=3))
    with pytest.raises(InsufficientCapacity):
        reservation_create(user=user, spec=_spec(user))
    assert ledger_audit() == []
    Host.objects.filter(pk=spare.pk).update(state=HostState.ENABLED)
    inst = reservation_create(user=user, spec=_spec(user)).instances.get()
    assert inst.host_id == spare.pk and ledger_audit() == []


def test_a_refused_request_leaves_nothing_behind(catalog, user):
    Host.objects.update(state=HostState.MAINTENANCE)
    before = (Reservation.objects.count(), Instance.objects.count())
    with pytest.raises(InsufficientCapacity):
        instance_launch(user=user, appliance="debian-12", instance_type="t3.small", min_count=2, max_count=2)
    assert (Reservation.objects.count(), Instance.objects.count()) == before
    assert list(Event.objects.values_list("action", flat=True)) == ["request.refused"]
    assert ledger_audit() == []
