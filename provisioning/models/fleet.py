"""The fleet: physical hosts and their capacity ledger figures (CHECK constraints are the last guard)."""
from __future__ import annotations

import math

from django.db import models
from django.db.models import F, Q

from ..choices import HostState
from .catalog import Appliance


class Host(models.Model):
    """A physical host in the resource pool and its capacity ledger totals.

    `*_limit` are the schedulable totals (physical x allocation ratio, less reserved memory),
    recomputed on save; `*_used` always equal the sum of the host's claims. Operators change a host
    through `services/hosts.py:host_update`, which refuses limits below what is claimed.
    """

    name = models.CharField(max_length=64, unique=True)
    availability_zone = models.CharField(max_length=32)
    sockets = models.PositiveSmallIntegerField(default=2)
    cores_per_socket = models.PositiveSmallIntegerField(default=8)
    threads_per_core = models.PositiveSmallIntegerField(default=2)
    cpu_model = models.CharField(max_length=80, blank=True)
    cpu_features = models.JSONField(default=list, help_text="e.g. vmx, ept, lm (64-bit)")
    supported_modes = models.JSONField(default=list)
    modes_csv = models.CharField(max_length=120, editable=False, default="")
    is_64bit = models.BooleanField(default=True, editable=False)
    has_hw_virt = models.BooleanField(default=True, editable=False)
    memory_mib = models.PositiveIntegerField()
    disk_gib = models.PositiveIntegerField()
    disk_mibps = models.FloatField(default=500.0)
    nic_mibps = models.FloatField(default=1250.0)
    hypervisor_version = models.CharField(max_length=20, default="1.0")
    network_cidr = models.CharField(max_length=20, help_text="private network pool, e.g. 10.1.4.0/24")
    state = models.CharField(max_length=24, choices=HostState.choices, default=HostState.ENABLED)
    is_up = models.BooleanField(default=True)
    cpu_allocation_ratio = models.FloatField(default=4.0)
    ram_allocation_ratio = models.FloatField(default=1.0)
    disk_allocation_ratio = models.FloatField(default=1.0)
    reserved_memory_mib = models.PositiveIntegerField(default=2048)
    max_instances = models.PositiveIntegerField(default=200)
    vcpus_limit = models.PositiveIntegerField(default=0, editable=False)
    memory_mib_limit = models.PositiveIntegerField(default=0, editable=False)
    disk_gib_limit = models.PositiveIntegerField(default=0, editable=False)
    vcpus_used = models.IntegerField(default=0, editable=False)
    memory_mib_used = models.IntegerField(default=0, editable=False)
    disk_gib_used = models.IntegerField(default=0, editable=False)
    instances_used = models.IntegerField(default=0, editable=False)
    cached_appliances = models.ManyToManyField(Appliance, blank=True, related_name="cached_on")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # Every claim rewrites a host's used figures, an update that rewrites each index entry of the
        # row (the free-memory indexes change, so it is never a HOT update): each index costs every
        # placement, so the table keeps only the ones placement reads.
        indexes = [
            # Placement walks schedulable hosts in free-memory order (provisioning.placement.filters.FREE).
            models.Index((F("memory_mib_limit") - F("memory_mib_used")).desc(), F("id"), name="host_free_mem_idx",
                         condition=Q(state="enabled", is_up=True)),
            models.Index(F("availability_zone"), (F("memory_mib_limit") - F("memory_mib_used")).desc(), F("id"),
                         name="host_az_free_mem_idx", condition=Q(state="enabled", is_up=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(vcpus_used__gte=0), name="host_vcpus_used_nonneg"),
            models.CheckConstraint(condition=Q(memory_mib_used__gte=0), name="host_memory_used_nonneg"),
            models.CheckConstraint(condition=Q(disk_gib_used__gte=0), name="host_disk_used_nonneg"),
            models.CheckConstraint(condition=Q(instances_used__gte=0), name="host_instances_used_nonneg"),
            models.CheckConstraint(condition=Q(vcpus_used__lte=F("vcpus_limit")), name="host_vcpus_within_limit"),
            models.CheckConstraint(
                condition=Q(memory_mib_used__lte=F("memory_mib_limit")), name="host_memory_within_limit"
            ),
            models.CheckConstraint(condition=Q(disk_gib_used__lte=F("disk_gib_limit")), name="host_disk_within_limit"),
            models.CheckConstraint(
                condition=Q(instances_used__lte=F("max_instances")), name="host_instances_within_limit"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.compute_limits()
        super().save(*args, **kwargs)

    @property
    def pcpus(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core

    def compute_limits(self) -> None:
        self.vcpus_limit = math.floor(self.pcpus * self.cpu_allocation_ratio)
        usable = self.memory_mib - self.reserved_memory_mib
        self.memory_mib_limit = max(0, math.floor(usable * self.ram_allocation_ratio))
        self.disk_gib_limit = math.floor(self.disk_gib * self.disk_allocation_ratio)
        features = set(self.cpu_features or [])
        self.is_64bit = "lm" in features
        self.has_hw_virt = bool(features & {"vmx", "svm"})
        self.modes_csv = "," + ",".join(self.supported_modes or []) + ","

    @property
    def state_colour(self) -> str:
        return HostState.colour(self.state)

    @property
    def vcpus_free(self) -> int:
        return self.vcpus_limit - self.vcpus_used

    @property
    def memory_mib_free(self) -> int:
        return self.memory_mib_limit - self.memory_mib_used

    @property
    def disk_gib_free(self) -> int:
        return self.disk_gib_limit - self.disk_gib_used

    @property
    def utilisation(self) -> dict[str, float]:
        """Allocated share of each schedulable limit, 0..1 (a ratio, as Prometheus names them)."""
        def ratio(used: int, limit: int) -> float:
            return round(used / limit, 4) if limit > 0 else 0.0
        return {"vcpus": ratio(self.vcpus_used, self.vcpus_limit),
                "memory": ratio(self.memory_mib_used, self.memory_mib_limit),
                "disk": ratio(self.disk_gib_used, self.disk_gib_limit),
                "instances": ratio(self.instances_used, self.max_instances)}
