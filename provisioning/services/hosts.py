"""Host settings: the one way an operator changes a host (state, limits, ratios, hypervisor version).

Every change is checked with the host row locked, so the used figures it is judged against are the
ones the claims wrote, and lands with an event naming who changed what, from what, and why. The
CHECK constraints stay the last guard; this says what to fix instead of failing the save.
Moving guests off a host is the maintenance service's work; this refuses to hide them.
"""
from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ..choices import MAINTENANCE_ACTIVE, HostState
from ..exceptions import InvalidRequest
from ..models import Host, Maintenance
from .events import event_record

# What an operator may set; the limits, used figures and derived flags follow from these.
EDITABLE = (
    "name", "availability_zone", "sockets", "cores_per_socket", "threads_per_core", "cpu_model", "cpu_features",
    "supported_modes", "memory_mib", "disk_gib", "disk_mibps", "nic_mibps", "hypervisor_version", "network_cidr",
    "state", "is_up", "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
    "reserved_memory_mib", "max_instances",
)
RATIOS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio")
SIZING = ("sockets", "cores_per_socket", "threads_per_core", "memory_mib", "reserved_memory_mib", "disk_gib",
          "max_instances")


VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,4}){0,3}$")


def version_key(version: str) -> tuple[int, ...]:
    """A hypervisor version as numbers, for "is it older": a live migration never goes to an older one."""
    return tuple(int(x) for x in "".join(c if c.isdigit() else " " for c in version).split()) or (0,)


def _version_problems(host: Host, version_was: str | None) -> dict[str, str]:
    if version_was is None or host.hypervisor_version == version_was:
        return {}
    if not VERSION_RE.match(str(host.hypervisor_version or "")):
        return {"hypervisor_version": "Give a version such as 7.0.4 (numbers separated by dots)."}
    if host.instances_used:
        return {"hypervisor_version": (
            f"{host.name} runs {host.instances_used} instances: enter maintenance first (it live-migrates them "
            f"away), then upgrade its hypervisor from {version_was} "
            f"(/api/v1/staff/hosts/{host.name}/hypervisor-upgrade/, or Upgrade on the console's host page).")}
    return {}


def host_problems(host: Host, *, reason: str = "", was: str | None = None,
                  version_was: str | None = None) -> dict[str, str]:
    """What is wrong with `host` as changed (field -> what to fix; empty if nothing). Does not write.

    `was` is the state before the change: disabling needs a reason, and a host that still runs
    guests cannot be put in maintenance by hand (the maintenance service moves them first).
    `version_was` is the hypervisor version before: it changes under no running guest (the
    maintenance's upgrade is the way for a host in use).
    """
    errors: dict[str, str] = _version_problems(host, version_was)
    for name in RATIOS:
        value = getattr(host, name)
        if value is not None and value <= 0:
            errors[name] = "Must be greater than 0 (1.0 means no overcommit)."
    if errors or None in (getattr(host, name) for name in SIZING):
        return errors  # the field errors say what is missing
    host.compute_limits()
    fix = "migrate or terminate instances first, or keep the limit at least that high."
    if host.vcpus_limit < host.vcpus_used:
        errors["cpu_allocation_ratio"] = (
            f"These settings give {host.vcpus_limit} schedulable vCPUs, but instances on {host.name} "
            f"claim {host.vcpus_used}: {fix}")
    if host.memory_mib_limit < host.memory_mib_used:
        errors["memory_mib"] = (
            f"These settings give {host.memory_mib_limit} MiB of schedulable memory, but instances on "
            f"{host.name} claim {host.memory_mib_used} MiB: {fix}")
    if host.disk_gib_limit < host.disk_gib_used:
        errors["disk_gib"] = (
            f"These settings give {host.disk_gib_limit} GiB of schedulable disk, but instances on "
            f"{host.name} claim {host.disk_gib_used} GiB: {fix}")
    if host.max_instances < host.instances_used:
        errors["max_instances"] = f"{host.name} runs {host.instances_used} instances: {fix}"
    if was is not None and host.state != was:
        if host.state == HostState.DISABLED and not reason.strip():
            errors["reason"] = f"Say why {host.name} is disabled (it goes into the event log)."
        if host.state == HostState.MAINTENANCE and host.instances_used:
            errors["state"] = (f"{host.name} still runs {host.instances_used} instances: enter maintenance "
                               "through the maintenance service, which moves them first.")
        elif HostState.ENTERING_MAINTENANCE in (host.state, was) or (
                was == HostState.MAINTENANCE and host.pk and
                Maintenance.objects.filter(host_id=host.pk, status__in=MAINTENANCE_ACTIVE).exists()):
            errors["state"] = (f"{host.name} enters and leaves maintenance through the maintenance service "
                               f"(/api/v1/staff/hosts/{host.name}/maintenance/, then .../cancel/ or .../exit/), "
                               "which moves its guests and keeps the maintenance's record.")
    return errors


def _check(host: Host, *, reason: str = "", was: str | None = None, version_was: str | None = None) -> None:
    """Field errors and the rules above, all named in one InvalidRequest (the CHECK constraints are
    left to the database: the rules say the same thing with the numbers and what to do)."""
    errors: dict[str, list[str]] = {}
    try:
        host.full_clean(exclude=["cached_appliances"], validate_constraints=False)
    except ValidationError as exc:
        errors = {name: list(messages) for name, messages in exc.message_dict.items()}
    for name, message in host_problems(host, reason=reason, was=was, version_was=version_was).items():
        errors.setdefault(name, []).append(message)
    if errors:
        raise InvalidRequest(errors)


def _changes(changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidRequest({name: "This is not a setting an operator can change." for name in unknown})


def host_update(*, actor: str, host: Host, reason: str = "", **changes: Any) -> Host:
    """Apply `changes` (any of EDITABLE) to `host` with its row locked; one event names each change.

    Raises InvalidRequest naming every bad field (limits below what the host's instances claim,
    a ratio of 0, disabling without a reason, ...). Returns the saved host.
    """
    _changes(changes)
    with transaction.atomic():
        locked = Host.objects.select_for_update().get(pk=host.pk)
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        _check(locked, reason=reason, was=before.get("state", locked.state),
               version_was=before.get("hypervisor_version"))
        locked.save()
        changed = {name: [before[name], getattr(locked, name)] for name in changes
                   if before[name] != getattr(locked, name)}
        if changed:
            _record(locked, actor=actor, changed=changed, reason=reason)
    return locked


def _record(host: Host, *, actor: str, changed: dict[str, list], reason: str) -> None:
    if "state" in changed:
        action = {HostState.ENABLED: "host.enable", HostState.DISABLED: "host.disable"}.get(
            host.state, "host.state")
        what = f"{host.name} {changed['state'][0]} → {changed['state'][1]}"
    else:
        action, what = "host.update", f"{host.name} changed"
    details = ", ".join(f"{name} {old} → {new}" for name, (old, new) in changed.items() if name != "state")
    message = what + (f": {details}" if details else "") + (f" ({reason.strip()})" if reason.strip() else "")
    event_record(action=action, host=host, actor=actor, message=message,
                 data={"changes": changed, "reason": reason.strip()})


def host_create(*, actor: str, **fields: Any) -> Host:
    """A new host in the fleet (checked like an edit) and its event."""
    _changes(fields)
    host = Host(**fields)
    _check(host)
    with transaction.atomic():
        host.save()
        event_record(action="host.create", host=host, actor=actor,
                     message=f"{host.name} added to {host.availability_zone}")
    return host
