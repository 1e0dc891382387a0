"""The capacity ledger. A claim and the host's used figures change in one conditional UPDATE,
so racing requests can never push a host past its limits (the CHECK constraints are the last guard)."""
from __future__ import annotations

from django.db.models import F

from ..choices import ClaimKind
from ..models import Claim, Host, Instance


def claim_try(*, host_id: int, instance: Instance, kind: str = ClaimKind.INSTANCE) -> Claim | None:
    """Claim the instance's size on the host if it still fits; None if someone else got there first."""
    it = instance.instance_type
    updated = Host.objects.filter(
        pk=host_id,
        vcpus_used__lte=F("vcpus_limit") - it.vcpus,
        memory_mib_used__lte=F("memory_mib_limit") - it.memory_mib,
        disk_gib_used__lte=F("disk_gib_limit") - it.disk_gib,
        instances_used__lte=F("max_instances") - 1,
    ).update(
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


def claim_release(*, instance: Instance, kind: str = ClaimKind.INSTANCE) -> bool:
    """Give the instance's claim back to its host. Idempotent: False if there was none."""
    claim = Claim.objects.filter(instance=instance, kind=kind).first()
    if claim is None:
        return False
    Host.objects.filter(pk=claim.host_id).update(
        vcpus_used=F("vcpus_used") - claim.vcpus,
        memory_mib_used=F("memory_mib_used") - claim.memory_mib,
        disk_gib_used=F("disk_gib_used") - claim.disk_gib,
        instances_used=F("instances_used") - 1,
    )
    claim.delete()
    return True
