"""Per-user quotas, checked inside the request transaction with the quota row locked."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from ..choices import LIVE_STATES
from ..db import prepared_cursor
from ..models import Instance, InstanceType, Quota
from ..units import mib_label
from .events import event_record


@dataclass(frozen=True)
class QuotaRow:
    """One resource of a quota check: what a request asks against the limit and what is in use."""

    name: str  # instances, vcpus or memory (memory is in MiB)
    label: str  # as a page heads it: "Instances", "vCPUs", "Memory"
    ask: int
    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeds(self) -> bool:
        return self.ask > self.remaining

    @property
    def percent(self) -> int:
        """Share of the limit in use (100 when the limit is 0 or below what is in use)."""
        return min(100, round(100 * self.used / self.limit)) if self.limit else 100

    @property
    def ask_percent(self) -> int:
        """Share of the limit this request adds, drawn after `percent` (never past 100 in all)."""
        return min(100 - self.percent, round(100 * self.ask / self.limit)) if self.limit else 0

    def text(self, value: int) -> str:
        """A figure of this row as people read it ('1.5 GiB' for memory)."""
        return mib_label(value, gib_only=True) if self.name == "memory" else str(value)

    @property
    def remaining_text(self) -> str:
        return self.text(self.remaining)

    @property
    def ask_text(self) -> str:
        return self.text(self.ask)

    @property
    def usage(self) -> str:
        """'2 of 5 used', or, for a quota lowered below what runs, '3 used, over the limit of 1'."""
        if self.used > self.limit:
            return f"{self.text(self.used)} used, over the limit of {self.text(self.limit)}"
        return f"{self.text(self.used)} of {self.text(self.limit)} used"

    @property
    def shortfall(self) -> str:
        """'memory: limit 5 GiB, in use 2 GiB, requested 4 GiB' (the refusal's words for this row)."""
        what = "vCPUs" if self.name == "vcpus" else self.name
        return (f"{what}: limit {self.text(self.limit)}, in use {self.text(self.used)}, "
                f"requested {self.text(self.ask)}")


@dataclass(frozen=True)
class QuotaCheck:
    """A request held against a quota: the rows a page shows and the one message a refusal gives."""

    rows: tuple[QuotaRow, ...]
    count: int
    fits: int  # how many instances of this size the quota admits

    @property
    def exceeds(self) -> bool:
        return any(row.exceeds for row in self.rows)

    @property
    def message(self) -> str:
        """Empty when the request fits; else what refuses it and what to do (the form and the API say this)."""
        if not self.exceeds:
            return ""
        parts = "; ".join(row.shortfall for row in self.rows if row.exceeds)
        if self.fits:
            advice = f"At most {self.fits} fit{'s' if self.fits == 1 else ''}; lower the count or pick a smaller type."
        else:
            advice = "Terminate instances or ask an operator to raise your quota."
        return f"Quota exceeded — {parts}. {advice}"


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

    def check(self, *, count: int, vcpus: int, memory_mib: int) -> QuotaCheck:
        """`count` instances of `vcpus` and `memory_mib` each against this quota (the one quota check)."""
        count = max(1, count)
        rows = (
            QuotaRow("instances", "Instances", count, self.used_instances, self.limit_instances),
            QuotaRow("vcpus", "vCPUs", count * vcpus, self.used_vcpus, self.limit_vcpus),
            QuotaRow("memory", "Memory", count * memory_mib, self.used_memory_mib, self.limit_memory_mib),
        )
        return QuotaCheck(rows=rows, count=count, fits=self.fits(vcpus=vcpus, memory_mib=memory_mib))

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


def quota_set(*, user, instances: int, vcpus: int, memory_mib: int, actor: str = "system") -> Quota:
    """Set a user's limits (effective at once; nothing running is taken away) and log who did it."""
    with transaction.atomic():
        quota = quota_get_or_create(user=user)
        quota.instances, quota.vcpus, quota.memory_mib = instances, vcpus, memory_mib
        quota.full_clean()
        quota.save()
        event_record(action="quota.set", owner=user, actor=actor,
                     message=f"Quota set to {instances} instances, {vcpus} vCPU, {memory_mib} MiB")
    return quota
