"""Per-user quotas, checked inside the request transaction with the quota row locked."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Sum

from ..choices import LIVE_STATES
from ..models import Instance, Quota


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
        quota = Quota.objects.select_for_update().filter(user=user).first()
        if quota is not None:
            return quota
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
    agg = Instance.objects.filter(owner=user, state__in=LIVE_STATES).aggregate(
        n=Count("id"), v=Sum("instance_type__vcpus"), m=Sum("instance_type__memory_mib")
    )
    return QuotaUsage(quota.instances, quota.vcpus, quota.memory_mib, agg["n"] or 0, agg["v"] or 0, agg["m"] or 0)


def quota_shortfall_message(usage: QuotaUsage, *, count: int, vcpus: int, memory_mib: int) -> str:
    """Name the resource, the limit and the usage that refuse the request."""
    parts = []
    if usage.used_instances + count > usage.limit_instances:
        parts.append(f"instances: limit {usage.limit_instances}, in use {usage.used_instances}, requested {count}")
    if usage.used_vcpus + count * vcpus > usage.limit_vcpus:
        parts.append(f"vCPUs: limit {usage.limit_vcpus}, in use {usage.used_vcpus}, requested {count * vcpus}")
    if usage.used_memory_mib + count * memory_mib > usage.limit_memory_mib:
        parts.append(
            f"memory: limit {usage.limit_memory_mib} MiB, in use {usage.used_memory_mib} MiB, "
            f"requested {count * memory_mib} MiB"
        )
    return "Quota exceeded — " + "; ".join(parts) + ". Terminate instances or ask an operator to raise your quota."


def quota_set(*, user, instances: int, vcpus: int, memory_mib: int) -> Quota:
    quota = quota_get_or_create(user=user)
    quota.instances, quota.vcpus, quota.memory_mib = instances, vcpus, memory_mib
    quota.full_clean()
    quota.save()
    return quota
