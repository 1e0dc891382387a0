"""The marketplace catalog: appliances and instance types."""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.urls import reverse

from ..choices import (
    Architecture,
    NicKind,
    OsFamily,
)
from ..units import size_label
from .ids import _ami_id


class Appliance(models.Model):
    """A virtual appliance: a pre-built OS + software stack image in the marketplace."""

    public_id = models.CharField("AMI id", max_length=24, unique=True, default=_ami_id, editable=False)
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    vendor = models.CharField(max_length=80)
    os_family = models.CharField(max_length=16, choices=OsFamily.choices, db_index=True)
    os_name = models.CharField(max_length=80, help_text="e.g. Ubuntu Server, Windows Server")
    os_version = models.CharField(max_length=40)
    kernel = models.CharField(max_length=60, blank=True, help_text="guest kernel, e.g. linux-5.15")
    architecture = models.CharField(max_length=8, choices=Architecture.choices, db_index=True)
    stack = models.CharField(max_length=80, blank=True, help_text="software stack, e.g. LAMP")
    category = models.CharField(max_length=40, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    image_size_mib = models.PositiveIntegerField()
    min_vcpus = models.PositiveSmallIntegerField(default=1)
    min_memory_mib = models.PositiveIntegerField(default=512)
    min_disk_gib = models.PositiveIntegerField(default=8)
    supported_modes = models.JSONField(
        default=list, help_text="virtualization modes this appliance can run under, best first"
    )
    # Denormalised ",mode,mode," so hosts can be filtered with a plain LIKE on any database.
    modes_csv = models.CharField(max_length=120, editable=False, default="")
    pv_aware = models.BooleanField(default=False, help_text="guest kernel makes hypercalls")
    open_source_kernel = models.BooleanField(default=True)
    default_user = models.CharField(max_length=40, default="ec2-user")
    description = models.TextField(blank=True)
    is_public = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(min_vcpus__gte=1), name="appliance_min_vcpus_positive"),
            models.CheckConstraint(
                condition=Q(architecture__in=["x86_64", "i386"]), name="appliance_architecture_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    def save(self, *args, **kwargs):
        self.modes_csv = "," + ",".join(self.supported_modes or []) + ","
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("appliance-detail", args=[self.slug])

    @property
    def is_container(self) -> bool:
        return list(self.supported_modes) == ["container"]


class InstanceType(models.Model):
    """A machine size, EC2 style (t3.micro = 2 vCPU / 1 GiB)."""

    name = models.CharField(max_length=32, unique=True)
    vcpus = models.PositiveSmallIntegerField()
    memory_mib = models.PositiveIntegerField()
    disk_gib = models.PositiveIntegerField()
    description = models.CharField(max_length=120, blank=True)
    nic = models.CharField("network interface", max_length=8, choices=NicKind.choices, default=NicKind.VIRTIO,
                           help_text="an SR-IOV virtual function is near line rate but pins the guest to its "
                                     "host: it cannot be live-migrated")

    class Meta:
        ordering = ["vcpus", "memory_mib", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({size_label(self.vcpus, self.memory_mib, self.disk_gib)})"
