"""Choice sets, each value with a label and a badge colour, rendered the same on every surface."""
from __future__ import annotations

import enum

from django.db import models


class BadgeChoices(models.TextChoices):
    """A choice set whose values each have a badge colour (NetBox's `ChoiceSet.colors`).

    Subclasses declare `colours = enum.nonmember({value: colour})`; `colour()` is its only reader,
    through the models' `state_colour` and the `{% state_badge %}` tag.
    """

    @classmethod
    def colour(cls, value: str) -> str:
        return cls.colours.get(value, "grey")


class InstanceState(BadgeChoices):
    """EC2's public instance states, plus `error` (Nova's ERROR vm_state) for a failed request."""

    PENDING = "pending", "pending"
    RUNNING = "running", "running"
    STOPPING = "stopping", "stopping"
    STOPPED = "stopped", "stopped"
    SHUTTING_DOWN = "shutting-down", "shutting-down"
    TERMINATED = "terminated", "terminated"
    ERROR = "error", "error"

    colours = enum.nonmember({
        "pending": "blue",
        "running": "green",
        "stopping": "orange",
        "stopped": "grey",
        "shutting-down": "orange",
        "terminated": "dark",
        "error": "red",
    })


# EC2 state codes (low byte of InstanceState.Code); `error` reuses 0x50 outside EC2's set.
STATE_CODES: dict[str, int] = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
    "error": 96,
}
FINAL_STATES = frozenset({"running", "stopped", "terminated", "error"})
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")


class TaskState(models.TextChoices):
    """What is happening to an instance right now (Nova's task_state)."""

    NONE = "", "idle"
    SCHEDULING = "scheduling", "scheduling"
    COPYING_IMAGE = "copying_image", "copying image"
    BOOTING = "booting", "booting"
    CONFIGURING = "configuring", "configuring"
    POWERING_OFF = "powering_off", "powering off"
    POWERING_ON = "powering_on", "powering on"
    REBOOTING = "rebooting", "rebooting"
    DELETING = "deleting", "deleting"
    MIGRATING = "migrating", "migrating"


class HostState(BadgeChoices):
    """`entering_maintenance` (vSphere's "entering maintenance mode"): takes no placements while its
    guests leave; `maintenance` only once it is empty."""

    ENABLED = "enabled", "enabled"
    DISABLED = "disabled", "disabled"
    ENTERING_MAINTENANCE = "entering_maintenance", "entering maintenance"
    MAINTENANCE = "maintenance", "maintenance"

    colours = enum.nonmember({"enabled": "green", "disabled": "grey", "entering_maintenance": "orange",
                              "maintenance": "orange"})


class MaintenanceStatus(BadgeChoices):
    """A host maintenance: entering (guests leaving) -> in_maintenance (empty) -> exited; or cancelled,
    or failed (the reconciler gave up on it; the host is back in service, its guests where they were)."""

    ENTERING = "entering", "entering maintenance"
    IN_MAINTENANCE = "in_maintenance", "in maintenance"
    EXITED = "exited", "exited"
    CANCELLED = "cancelled", "cancelled"
    FAILED = "failed", "failed"

    colours = enum.nonmember({"entering": "orange", "in_maintenance": "orange", "exited": "green",
                              "cancelled": "dark", "failed": "red"})


MAINTENANCE_ACTIVE = ("entering", "in_maintenance")


class VirtMode(models.TextChoices):
    """Values match hypervisor_sim.VirtMode."""

    EMULATION = "emulation", "hardware emulation"
    BINARY_TRANSLATION = "binary_translation", "full virtualization (binary translation)"
    PARAVIRTUALIZATION = "paravirtualization", "paravirtualization"
    HARDWARE_ASSISTED = "hardware_assisted", "hardware-assisted (VT-x/AMD-V)"
    CONTAINER = "container", "OS-level container"


# Preference when an appliance and a host support several modes: fastest first.
MODE_PREFERENCE = ("hardware_assisted", "container", "paravirtualization", "binary_translation", "emulation")


class NicKind(models.TextChoices):
    """An instance type's network interface (values match hypervisor_sim.GuestSpec.nic)."""

    VIRTIO = "virtio", "virtio (paravirtual)"
    SRIOV = "sriov", "SR-IOV virtual function"


class Architecture(models.TextChoices):
    X86_64 = "x86_64", "64-bit (x86_64)"
    I386 = "i386", "32-bit (i386)"


class OsFamily(models.TextChoices):
    LINUX = "linux", "Linux"
    WINDOWS = "windows", "Windows"
    BSD = "bsd", "BSD"
    SOLARIS = "solaris", "Solaris"


class Protocol(models.TextChoices):
    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"
    ICMP = "icmp", "ICMP"
    ALL = "-1", "all traffic"


class ClaimKind(models.TextChoices):
    INSTANCE = "instance", "instance"
    MIGRATION = "migration", "migration destination"


class PlacementStrategy(models.TextChoices):
    AFFINITY = "affinity", "affinity (same host)"
    ANTI_AFFINITY = "anti-affinity", "anti-affinity (different hosts)"


class BalancingMode(models.TextChoices):
    """vSphere DRS's automation level: recommend for staff to apply, or apply on every beat."""

    MANUAL = "manual", "manual: recommend, staff apply"
    AUTOMATIC = "automatic", "automatic: apply the recommendations by itself"


BALANCING_LEVELS = (1, 2, 3, 4, 5)  # DRS's migration threshold: 1 moves least (a badly skewed fleet), 5 most


class MigrationStatus(models.TextChoices):
    """Nova's live-migration status names (objects/fields.py), in the order a migration goes through them."""

    ACCEPTED = "accepted", "accepted"
    QUEUED = "queued", "queued"
    PREPARING = "preparing", "preparing"
    RUNNING = "running", "running"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"
    ERROR = "error", "error"


MIGRATION_ACTIVE = ("accepted", "queued", "preparing", "running")
MIGRATION_FINAL = ("completed", "failed", "cancelled", "error")
# Admitted migrations: they hold a slot on their hosts' links and share their bandwidth.
MIGRATION_MOVING = ("preparing", "running")
MIGRATION_STATUS_COLOURS: dict[str, str] = {
    "accepted": "blue", "queued": "grey", "preparing": "blue", "running": "blue",
    "completed": "green", "failed": "red", "cancelled": "dark", "error": "red",
}
