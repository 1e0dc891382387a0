"""The capacity ledger. A claim and the host's used figures change in one conditional UPDATE, so
racing requests can never push a host past its limits (the CHECK constraints are the last guard).

Invariants (checked by the tests after every fault, see `ledger_audit`): a host's used figures
equal the sum of its claims; no host above its limits; no claim without a live instance; an
instance's claim is on the instance's host; a migration claim belongs to an unfinished live
migration of that instance to that host (and the destination's room is held for the whole move).
"""
from __future__ import annotations

from collections.abc import Sequence

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Sum

from ..choices import LIVE_STATES, MIGRATION_ACTIVE, ClaimKind
from ..db import prepared_cursor
from ..models import Claim, Host, Instance, Migration

DEADLOCK_SQLSTATE = "40P01"


def _fits(it) -> dict:
    return dict(
        vcpus_used__lte=F("vcpus_limit") - it.vcpus,
        memory_mib_used__lte=F("memory_mib_limit") - it.memory_mib,
        disk_gib_used__lte=F("disk_gib_limit") - it.disk_gib,
        instances_used__lte=F("max_instances") - 1,
    )


def claim_try(*, host_id: int, instance: Instance, kind: str = ClaimKind.INSTANCE) -> Claim | None:
    """Claim the instance's size on the host if it still fits; None if someone else got there first.

    On PostgreSQL the UPDATE waits for a concurrent claim on the same host to commit, then checks
    the room again on the new row (READ COMMITTED re-evaluation): no lost update, no overcommit.
    """
    it = instance.instance_type
    updated = Host.objects.filter(pk=host_id, **_fits(it)).update(
        vcpus_used=F("vcpus_used") + it.vcpus,
        memory_mib_used=F("memory_mib_used") + it.memory_mib,
        disk_gib_used=F("disk_gib_used") + it.disk_gib,
        instances_used=F("instances_used") + 1,
    )
    if updated != 1:
        return None
    return Claim.objects.create(
        instance=instance, host_id=host_id, kind=kind, vcpus=it.vcpus, memory_mib=it.memory_mib, disk_gib=it.disk_gib
    )


_PG_CLAIM_FIRST = """
WITH pick AS (
    SELECT h.id FROM provisioning_host h
    WHERE h.id = ANY(%(ids)s::bigint[])
      AND h.vcpus_used <= h.vcpus_limit - %(v)s AND h.memory_mib_used <= h.memory_mib_limit - %(m)s
      AND h.disk_gib_used <= h.disk_gib_limit - %(d)s AND h.instances_used <= h.max_instances - 1
    ORDER BY array_position(%(ids)s::bigint[], h.id)
    LIMIT 1
    FOR NO KEY UPDATE SKIP LOCKED
), grab AS (
    UPDATE provisioning_host h
    SET vcpus_used = h.vcpus_used + %(v)s, memory_mib_used = h.memory_mib_used + %(m)s,
        disk_gib_used = h.disk_gib_used + %(d)s, instances_used = h.instances_used + 1
    FROM pick WHERE h.id = pick.id
    RETURNING h.id
)
INSERT INTO provisioning_claim (instance_id, host_id, kind, vcpus, memory_mib, disk_gib, created_at)
SELECT %(instance)s, grab.id, %(kind)s, %(v)s, %(m)s, %(d)s, statement_timestamp() FROM grab
RETURNING id, host_id
"""


def _claim_first_unlocked_pg(instance: Instance, host_ids: Sequence[int], kind: str) -> Claim | None:
    """One statement: the first host in `host_ids` with room that no concurrent request holds,
    its used figures raised, and the claim row written."""
    it = instance.instance_type
    with prepared_cursor() as cur:
        cur.execute(_PG_CLAIM_FIRST, {"ids": list(host_ids), "v": it.vcpus, "m": it.memory_mib,
                                      "d": it.disk_gib, "instance": instance.pk, "kind": kind})
        row = cur.fetchone()
    if row is None:
        return None
    return Claim(pk=row[0], instance=instance, host_id=row[1], kind=kind, vcpus=it.vcpus,
                 memory_mib=it.memory_mib, disk_gib=it.disk_gib)


def _is_deadlock(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) == DEADLOCK_SQLSTATE


def claim_first(*, instance: Instance, host_ids: Sequence[int], kind: str = ClaimKind.INSTANCE) -> Claim | None:
    """Claim room on the first host of `host_ids` (best first) that still has it; None if none does.

    PostgreSQL: first one statement that skips hosts other requests are claiming right now (so
    concurrent requests spread over the ranked candidates instead of queueing on the best one);
    if every host with room was busy, wait for them in rank order and re-check each (a host that
    is being claimed may still have room after that claim commits). SQLite serialises writers, so
    the plain conditional UPDATE suffices there.
    """
    if not host_ids:
        return None
    postgres = connection.vendor == "postgresql"
    if postgres:
        claim = _claim_first_unlocked_pg(instance, host_ids, kind)
        if claim is not None:
            return claim
    for host_id in host_ids:
        if not postgres:
            claim = claim_try(host_id=host_id, instance=instance, kind=kind)
        else:
            try:  # two multi-instance requests may wait on each other's hosts: let the victim move on
                with transaction.atomic():
                    claim = claim_try(host_id=host_id, instance=instance, kind=kind)
            except DatabaseError as exc:
                if not _is_deadlock(exc):
                    raise
                claim = None
        if claim is not None:
            return claim
    return None


def claim_release(*, instance: Instance, kind: str = ClaimKind.INSTANCE) -> bool:
    """Give the instance's claim back to its host. Idempotent: False if there was none."""
    return kind in claims_release(instance=instance, kinds=(kind,))


_PG_RELEASE = """
WITH gone AS (
    DELETE FROM provisioning_claim WHERE instance_id = %(instance)s AND kind = ANY(%(kinds)s::varchar[])
    RETURNING kind, host_id, vcpus, memory_mib, disk_gib
), back AS (
    UPDATE provisioning_host h
    SET vcpus_used = h.vcpus_used - g.v, memory_mib_used = h.memory_mib_used - g.m,
        disk_gib_used = h.disk_gib_used - g.d, instances_used = h.instances_used - g.n
    FROM (SELECT host_id, sum(vcpus) v, sum(memory_mib) m, sum(disk_gib) d, count(*) n FROM gone GROUP BY host_id) g
    WHERE h.id = g.host_id
)
SELECT kind FROM gone
"""


def claims_release(*, instance: Instance, kinds: Sequence[str] = (ClaimKind.INSTANCE, ClaimKind.MIGRATION)) -> set[str]:
    """Give the instance's claims of these kinds back to their hosts; the kinds it had (idempotent).

    On PostgreSQL one statement deletes the claims and lowers their hosts' used figures together.
    """
    if connection.vendor == "postgresql":
        with prepared_cursor() as cur:
            cur.execute(_PG_RELEASE, {"instance": instance.pk, "kinds": list(kinds)})
            return {row[0] for row in cur.fetchall()}
    claims = list(Claim.objects.filter(instance=instance, kind__in=kinds))
    for claim in claims:
        Host.objects.filter(pk=claim.host_id).update(
            vcpus_used=F("vcpus_used") - claim.vcpus,
            memory_mib_used=F("memory_mib_used") - claim.memory_mib,
            disk_gib_used=F("disk_gib_used") - claim.disk_gib,
            instances_used=F("instances_used") - 1,
        )
    if claims:
        Claim.objects.filter(pk__in=[c.pk for c in claims]).delete()
    return {c.kind for c in claims}


_PG_SWITCH = """
WITH gone AS (
    DELETE FROM provisioning_claim WHERE instance_id = %(instance)s AND kind = %(instance_kind)s
    RETURNING host_id, vcpus, memory_mib, disk_gib
), back AS (
    UPDATE provisioning_host h
    SET vcpus_used = h.vcpus_used - g.vcpus, memory_mib_used = h.memory_mib_used - g.memory_mib,
        disk_gib_used = h.disk_gib_used - g.disk_gib, instances_used = h.instances_used - 1
    FROM gone g WHERE h.id = g.host_id
), moved AS (  -- reads `gone`, so the source's claim is deleted first (one claim per instance and kind)
    UPDATE provisioning_claim c SET kind = %(instance_kind)s FROM (SELECT count(*) FROM gone) g
    WHERE c.instance_id = %(instance)s AND c.kind = %(migration_kind)s
    RETURNING c.id
)
SELECT count(*) FROM moved
"""


def claim_switch(*, instance: Instance) -> bool:
    """A live migration's switch-over: the instance's claim on its destination (`ClaimKind.MIGRATION`)
    becomes its instance claim, and the one on the source is given back. False when it held no
    destination claim. On PostgreSQL one statement; the caller holds both hosts' rows."""
    if connection.vendor == "postgresql":
        with prepared_cursor() as cur:
            cur.execute(_PG_SWITCH, {"instance": instance.pk, "instance_kind": ClaimKind.INSTANCE,
                                     "migration_kind": ClaimKind.MIGRATION})
            return cur.fetchone()[0] > 0
    claim_release(instance=instance, kind=ClaimKind.INSTANCE)
    return Claim.objects.filter(instance=instance, kind=ClaimKind.MIGRATION).update(kind=ClaimKind.INSTANCE) > 0


def ledger_audit() -> list[str]:
    """Every broken capacity invariant, in words (empty when the ledger is exact)."""
    problems = []
    sums = {
        row["host_id"]: row
        for row in Claim.objects.values("host_id").annotate(
            v=Sum("vcpus"), m=Sum("memory_mib"), d=Sum("disk_gib"), n=Count("id"))
    }
    zero = {"v": 0, "m": 0, "d": 0, "n": 0}
    for h in Host.objects.order_by("pk").only(
            "name", "vcpus_used", "memory_mib_used", "disk_gib_used", "instances_used",
            "vcpus_limit", "memory_mib_limit", "disk_gib_limit", "max_instances"):
        s = sums.get(h.pk, zero)
        if (h.vcpus_used, h.memory_mib_used, h.disk_gib_used, h.instances_used) != (s["v"], s["m"], s["d"], s["n"]):
            problems.append(f"{h.name}: used {h.vcpus_used}/{h.memory_mib_used}/{h.disk_gib_used}/{h.instances_used}"
                            f" != claims {s['v']}/{s['m']}/{s['d']}/{s['n']}")
        if (h.vcpus_used > h.vcpus_limit or h.memory_mib_used > h.memory_mib_limit
                or h.disk_gib_used > h.disk_gib_limit or h.instances_used > h.max_instances):
            problems.append(f"{h.name}: above its limits")
    for c in Claim.objects.exclude(instance__state__in=LIVE_STATES).select_related("instance"):
        problems.append(f"claim of {c.instance.public_id} ({c.instance.state}) on host {c.host_id} should be gone")
    for c in Claim.objects.filter(kind=ClaimKind.INSTANCE).exclude(host_id=F("instance__host_id")) \
            .select_related("instance"):
        problems.append(f"claim of {c.instance.public_id} is on host {c.host_id}, the instance on {c.instance.host_id}")
    live_unclaimed = Instance.objects.filter(state__in=LIVE_STATES, host__isnull=False) \
        .exclude(claims__kind=ClaimKind.INSTANCE).values_list("public_id", flat=True)[:20]
    for pid in live_unclaimed:
        problems.append(f"live instance {pid} has no claim on its host")
    moving = {(m["instance_id"], m["dest_host_id"]): m["public_id"] for m in
              Migration.objects.filter(status__in=MIGRATION_ACTIVE).values("instance_id", "dest_host_id", "public_id")}
    held = set()
    for c in Claim.objects.filter(kind=ClaimKind.MIGRATION).select_related("instance"):
        held.add((c.instance_id, c.host_id))
        if (c.instance_id, c.host_id) not in moving:
            problems.append(f"migration claim of {c.instance.public_id} on host {c.host_id} has no unfinished "
                            "migration to that host")
    for key, pid in moving.items():
        if key not in held and Instance.objects.filter(pk=key[0], state="running").exists():
            problems.append(f"migration {pid} of a running instance holds no claim on its destination {key[1]}")
    return problems
