"""Per-user quotas, checked inside the request transaction with the quota row locked."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from ..choices import LIVE_STATES
from ..db import prepared_cursor
from ..models import Instance, InstanceType, Quota


@dataclass(frozen=True)
class QuotaUsage:
    limit_instances: int
    limit_vcpus: int
    limit_memory_mib: int
    used_instances: int
    used_vcpus: int
    used_memory_mib: int

    @property
    def remaining_instances(self) -> int:
        return max(0, self.limit_instances - self.used_instances)

    @property
    def remaining_vcpus(self) -> int:
        return max(0, self.limit_vcpus - self.used_vcpus)

    @property
    def remaining_memory_mib(self) -> int:
        return max(0, self.limit_memory_mib - self.used_memory_mib)

    def fits(self, *, vcpus: int, memory_mib: int) -> int:
        """How many more instances of this size the quota admits."""
        by_count = self.remaining_instances
        by_vcpu = self.remaining_vcpus // vcpus if vcpus else by_count
        by_mem = self.remaining_memory_mib // memory_mib if memory_mib else by_count
        return max(0, min(by_count, by_vcpu, by_mem))

    def as_dict(self) -> dict:
        return {
            "instances": {"limit": self.limit_instances, "used": self.used_instances,
                          "remaining": self.remaining_instances},
            "vcpus": {"limit": self.limit_vcpus, "used": self.used_vcpus, "remaining": self.remaining_vcpus},
            "memory_mib": {"limit": self.limit_memory_mib, "used": self.used_memory_mib,
                           "remaining": self.remaining_memory_mib},
        }


def quota_get_or_create(*, user, lock: bool = False) -> Quota:
    """The user's quota row (made from the defaults on first use); `lock` takes its row lock.

    Locking reads the existing row with the lock in one query; only a user's very first request
    creates the row and then locks it (two racing first requests meet in get_or_create).
    """
    if lock:
        lock_sql = " FOR UPDATE" if connection.features.has_select_for_update else ""  # SQLite: writers serialise
        with prepared_cursor() as cur:
            cur.execute(f"SELECT id, instances, vcpus, memory_mib FROM {Quota._meta.db_table} "
                        f"WHERE user_id = %s{lock_sql}", [user.pk])
            row = cur.fetchone()
        if row is not None:
            return Quota(id=row[0], user_id=user.pk, instances=row[1], vcpus=row[2], memory_mib=row[3])
    defaults = settings.SKYPORT_DEFAULT_QUOTA
    quota, _ = Quota.objects.get_or_create(
        user=user,
        defaults={"instances": defaults["instances"], "vcpus": defaults["vcpus"], "memory_mib": defaults["memory_mib"]},
    )
    if lock:
        quota = Quota.objects.select_for_update().get(pk=quota.pk)
    return quota


def quota_usage(*, user, lock: bool = False) -> QuotaUsage:
    """Usage counts every live instance (stopped ones keep their claim, as in Nova)."""
    quota = quota_get_or_create(user=user, lock=lock)
    n, v, m = _live_usage(user.pk)
    return QuotaUsage(quota.instances, quota.vcpus, quota.memory_mib, n, v, m)


_LIVE_USAGE_SQL = (
    f"SELECT COUNT(*), COALESCE(SUM(t.vcpus), 0), COALESCE(SUM(t.memory_mib), 0) "
    f"FROM {Instance._meta.db_table} i JOIN {InstanceType._meta.db_table} t ON t.id = i.instance_type_id "
    f"WHERE i.owner_id = %s AND i.state IN ({', '.join(repr(str(state)) for state in LIVE_STATES)})"
)


def _live_usage(user_id: int) -> tuple[int, int, int]:
    """Live instances, vCPUs and memory of one user: plain SQL, as this runs in every request
    transaction (the ORM's aggregate compilation cost more than the query itself)."""
    with prepared_cursor() as cur:
        cur.execute(_LIVE_USAGE_SQL, [user_id])
        n, v, m = cur.fetchone()
    return int(n), int(v), int(m)


def _gib(mib: int) -> str:
    return f"{mib / 1024:g} GiB"  # as the launch form's quota panel shows memory


def quota_shortfall_message(usage: QuotaUsage, *, count: int, vcpus: int, memory_mib: int) -> str:
    """Name the resource, the limit and the usage that refuse the request."""
    parts = []
    if usage.used_instances + count > usage.limit_instances:
        parts.append(f"instances: limit {usage.limit_instances}, in use {usage.used_instances}, requested {count}")
    if usage.used_vcpus + count * vcpus > usage.limit_vcpus:
        parts.append(f"vCPUs: limit {usage.limit_vcpus}, in use {usage.used_vcpus}, requested {count * vcpus}")
    if usage.used_memory_mib + count * memory_mib > usage.limit_memory_mib:
        parts.append(
            f"memory: limit {_gib(usage.limit_memory_mib)}, in use {_gib(usage.used_memory_mib)}, "
            f"requested {_gib(count * memory_mib)}"
        )
    return "Quota exceeded — " + "; ".join(parts) + ". Terminate instances or ask an operator to raise your quota."


def quota_set(*, user, instances: int, vcpus: int, memory_mib: int) -> Quota:
    quota = quota_get_or_create(user=user)
    quota.instances, quota.vcpus, quota.memory_mib = instances, vcpus, memory_mib
    quota.full_clean()
    quota.save()
    return quota
