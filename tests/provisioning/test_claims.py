"""Atomic claims: conditional updates, SKIP LOCKED on PostgreSQL, CHECK constraints, real races.

The race tests use threads, each with its own database connection (closed at thread end), on a
transactional database. On PostgreSQL they race for real (row locks, re-checked conditional
updates); on SQLite the IMMEDIATE transactions serialise them, which the same assertions prove.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F

from provisioning.exceptions import InsufficientCapacity, QuotaExceeded
from provisioning.models import Appliance, Claim, Host, Instance, InstanceType, Reservation, SecurityGroup
from provisioning.services.claims import claim_first, claim_release, claim_try, ledger_audit
from provisioning.services.quotas import quota_set
from provisioning.services.security_groups import security_group_default
from tests.factories import host_factory, reservation_factory, user_factory
from tests.kit import held_in_transaction

ROOM = 10


def bare_instance(user, itype: str = "t3.small") -> Instance:
    """An instance row without placement (for claiming by hand)."""
    res = Reservation.objects.create(owner=user)
    return Instance.objects.create(owner=user, reservation=res, appliance=Appliance.objects.get(slug="debian-12"),
                                   instance_type=InstanceType.objects.get(name=itype))


def placed(claim):
    """Record the claim's host on its instance, as `instance_place` does after claiming (the ledger
    audit checks that a live instance and its claim name the same host)."""
    if claim is not None:
        Instance.objects.filter(pk=claim.instance_id).update(host_id=claim.host_id)
    return claim


def host_for(n: int, name: str = "only") -> Host:
    """One host with room for exactly `n` t3.small (2 vCPU / 2 GiB / 20 GiB) in every dimension."""
    return host_factory(name, threads=2 * n, cpu_ratio=1.0, memory_gib=2 * n, reserved_mib=0, disk_gib=20 * n)


# --------------------------------------------------------------------------- unit
@pytest.mark.django_db
def test_claim_try_is_conditional_and_release_is_idempotent(cloud_catalog, user):
    host = host_for(1)
    a, b = bare_instance(user), bare_instance(user)
    claim = claim_try(host_id=host.pk, instance=a)
    assert claim is not None and (claim.vcpus, claim.memory_mib, claim.disk_gib) == (2, 2048, 20)
    assert claim_try(host_id=host.pk, instance=b) is None  # full: nothing changes
    host.refresh_from_db()
    assert (host.vcpus_used, host.memory_mib_used, host.disk_gib_used, host.instances_used) == (2, 2048, 20, 1)
    assert claim_release(instance=a) is True and claim_release(instance=a) is False
    host.refresh_from_db()
    assert (host.vcpus_used, host.instances_used) == (0, 0)


@pytest.mark.django_db
def test_claim_first_takes_the_first_host_in_rank_order_that_has_room(cloud_catalog, user):
    full, second, third = host_for(1, "full"), host_for(1, "second"), host_for(1, "third")
    placed(claim_try(host_id=full.pk, instance=bare_instance(user)))
    claim = placed(claim_first(instance=bare_instance(user), host_ids=[full.pk, second.pk, third.pk]))
    assert claim.host_id == second.pk
    assert claim_first(instance=bare_instance(user), host_ids=[]) is None
    assert ledger_audit() == []


@pytest.mark.django_db
def test_check_constraints_are_the_last_guard(cloud_catalog):
    host = host_for(1)
    for field, limit in (("vcpus_used", "vcpus_limit"), ("memory_mib_used", "memory_mib_limit"),
                         ("disk_gib_used", "disk_gib_limit"), ("instances_used", "max_instances")):
        with pytest.raises(IntegrityError), transaction.atomic():
            Host.objects.filter(pk=host.pk).update(**{field: F(limit) + 1})
    with pytest.raises(IntegrityError), transaction.atomic():
        Host.objects.filter(pk=host.pk).update(vcpus_used=-1)


@pytest.mark.django_db
def test_ledger_audit_names_every_broken_invariant(cloud_catalog, user):
    host = host_for(2)
    inst = bare_instance(user)
    claim_try(host_id=host.pk, instance=inst)
    Instance.objects.filter(pk=inst.pk).update(host=host)
    assert ledger_audit() == []
    Host.objects.filter(pk=host.pk).update(memory_mib_used=F("memory_mib_used") + 1)
    Instance.objects.filter(pk=inst.pk).update(state="terminated")
    problems = ledger_audit()
    assert any("!= claims" in p for p in problems)
    assert any(f"claim of {inst.public_id} (terminated)" in p for p in problems)


# --------------------------------------------------------------------------- races
def _together(n: int, request: Callable[[int], object]) -> list:
    """Run `request(i)` in `n` threads (a connection each) released at once: what each returned, or the
    exception it raised (for the caller's assertion to show)."""
    barrier = threading.Barrier(n)
    outcomes: list = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            result = request(i)
        except BaseException as exc:  # noqa: BLE001 - returned to the caller
            result = exc
        finally:
            connections.close_all()  # this thread's own connection
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a racing request hung"
    return outcomes


def _race(n_requests: int, room: int) -> tuple[list[str], list[str], list[BaseException]]:
    """`n_requests` users (own connection each) ask at once for one t3.small on a host with `room`."""
    host_for(room)
    users = [user_factory(f"racer-{i}") for i in range(n_requests)]
    for u in users:  # rows the request would otherwise create on the fly (not what is raced for)
        quota_set(user=u, instances=5, vcpus=50, memory_mib=10**6)
        security_group_default(user=u)

    def request(i: int) -> str:
        return reservation_factory(users[i], appliance="debian-12").instances.get().public_id

    outcomes = _together(n_requests, request)
    placed = [o for o in outcomes if isinstance(o, str)]
    refused = [o.message for o in outcomes if isinstance(o, InsufficientCapacity)]
    crashed = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, InsufficientCapacity)]
    return placed, refused, crashed


def _assert_exactly_room(placed, refused, crashed, room: int, n: int) -> None:
    assert crashed == []
    assert len(placed) == room and len(refused) == n - room
    assert set(refused) == {"No host can take 2 vCPU / 2 GiB: 1 of 1 lacks memory (largest free 0 GiB)."}
    host = Host.objects.get()
    assert (host.vcpus_used, host.memory_mib_used, host.instances_used) == (host.vcpus_limit,
                                                                             host.memory_mib_limit, room)
    assert Claim.objects.count() == Instance.objects.count() == room
    assert len(set(Instance.objects.values_list("private_ip", flat=True))) == room
    assert ledger_audit() == []


@pytest.mark.postgres
def test_fifty_requests_race_for_ten_slots_on_postgres(transactional_db, cloud_catalog):
    placed, refused, crashed = _race(50, ROOM)
    _assert_exactly_room(placed, refused, crashed, ROOM, 50)


def test_fifty_requests_race_for_ten_slots_on_any_database(transactional_db, cloud_catalog):
    """On SQLite the IMMEDIATE transactions queue the writers: the same outcome, serialised."""
    placed, refused, crashed = _race(50, ROOM)
    _assert_exactly_room(placed, refused, crashed, ROOM, 50)


def test_one_users_racing_requests_cannot_exceed_the_quota(transactional_db, cloud_catalog, user):
    host_factory("big", memory_gib=256)
    quota_set(user=user, instances=3, vcpus=100, memory_mib=10**6)
    security_group_default(user=user)

    def request(_i: int) -> str:
        try:
            reservation_factory(user, appliance="debian-12")
            return "placed"
        except QuotaExceeded as exc:
            return exc.errors["quota"][0]

    outcomes = _together(10, request)
    assert outcomes.count("placed") == 3
    assert {o for o in outcomes if o != "placed"} == {
        "Quota exceeded — instances: limit 3, in use 3, requested 1. Terminate instances or ask an operator to "
        "raise your quota."}
    assert ledger_audit() == []


def test_a_new_users_racing_first_launches_share_one_default_group(transactional_db, cloud_catalog, user):
    """The default group is made by the first launch, outside the quota lock: the others wait for it."""
    host_factory("big", memory_gib=256)
    quota_set(user=user, instances=10, vcpus=100, memory_mib=10**6)

    def request(_i: int) -> str:
        reservation = reservation_factory(user, appliance="debian-12")
        return ",".join(reservation.instances.get().security_groups.values_list("name", flat=True))

    assert _together(6, request) == ["default"] * 6
    assert SecurityGroup.objects.filter(owner=user).count() == 1
    assert ledger_audit() == []


@pytest.mark.postgres
def test_claims_skip_a_host_another_request_is_claiming(transactional_db, cloud_catalog, user):
    """PostgreSQL: while one transaction holds its claim on host A, another goes straight to B
    instead of queueing behind it; and when A is the only choice it waits, then re-checks."""
    a, b = host_for(2, "a"), host_for(2, "b")
    holder, other, late = bare_instance(user), bare_instance(user), bare_instance(user)
    waited = {}

    def wait_for_a() -> None:
        try:
            with transaction.atomic():
                waited["claim"] = placed(claim_first(instance=late, host_ids=[a.pk]))
        finally:
            connections.close_all()

    w = threading.Thread(target=wait_for_a)
    with held_in_transaction(lambda: placed(claim_try(host_id=a.pk, instance=holder))) as claim:
        assert claim is not None
        with transaction.atomic():  # not blocked by A's lock:
            assert placed(claim_first(instance=other, host_ids=[a.pk, b.pk])).host_id == b.pk
        w.start()
    w.join(timeout=60)
    assert waited["claim"] is not None and waited["claim"].host_id == a.pk  # room for two: both fit
    assert connection.vendor == "postgresql"
    assert ledger_audit() == []
