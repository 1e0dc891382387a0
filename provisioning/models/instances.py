"""Reservations, instances and their capacity claims."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from ..choices import (
    STATE_CODES,
    ClaimKind,
    InstanceState,
    TaskState,
)
from .access import KeyPair, PlacementGroup, SecurityGroup
from .catalog import Appliance, InstanceType
from .fleet import Host
from .ids import _instance_id, _reservation_id
from .stepped import Stepped


class Reservation(models.Model):
    """One launch request (EC2 reservation): min_count..max_count instances launched together."""

    public_id = models.CharField(max_length=24, unique=True, default=_reservation_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reservations")
    min_count = models.PositiveIntegerField(default=1)
    max_count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.public_id


class Instance(Stepped):
    """A guest. Its launch/stop/start/reboot/terminate steps run on the step engine (`Stepped`)."""

    public_id = models.CharField("instance id", max_length=24, unique=True, default=_instance_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="instances")
    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="instances")
    name = models.CharField(max_length=128, blank=True)
    appliance = models.ForeignKey(Appliance, on_delete=models.PROTECT, related_name="instances")
    instance_type = models.ForeignKey(InstanceType, on_delete=models.PROTECT, related_name="instances")
    key_pair = models.ForeignKey(KeyPair, null=True, blank=True, on_delete=models.SET_NULL, related_name="instances")
    key_name = models.CharField(max_length=255, blank=True)
    security_groups = models.ManyToManyField(SecurityGroup, blank=True, related_name="instances")
    placement_group = models.ForeignKey(
        PlacementGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="instances"
    )
    availability_zone = models.CharField(max_length=32, blank=True)
    user_data = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=InstanceState.choices, default=InstanceState.PENDING)
    task = models.CharField(max_length=16, choices=TaskState.choices, default=TaskState.SCHEDULING, blank=True)
    state_reason = models.TextField(blank=True)
    # Indexed by instance_host_appliance_idx (host first), which also answers the page-sharing weigher.
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.PROTECT, related_name="instances",
                             db_index=False)
    virt_mode = models.CharField(max_length=24, blank=True)
    hostname = models.CharField(max_length=64, blank=True)
    private_ip = models.GenericIPAddressField(null=True, blank=True, protocol="IPv4")
    mac_address = models.CharField(max_length=17, blank=True)
    login_user = models.CharField(max_length=40, blank=True)
    # A generated password never rests in clear: sealed (provisioning.crypto) until the owner has seen
    # it once (then blanked), or, when the instance has an RSA key pair, only `password_data`: the
    # password encrypted to that public key (PKCS#1 v1.5, base64), as EC2's GetPasswordData returns it.
    initial_password = models.TextField(blank=True)
    password_data = models.TextField(blank=True)
    credentials_shown_at = models.DateTimeField(null=True, blank=True)
    console_log = models.TextField(blank=True)
    boot_plan = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "state"], name="instance_owner_state_idx"),
            # "Does this host run a live guest of this appliance?" (page-sharing weigher), per candidate
            # host, answered from the index alone; and the host's instances (host first).
            models.Index(fields=["host", "appliance", "state"], name="instance_host_appliance_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "private_ip"],
                condition=Q(private_ip__isnull=False) & ~Q(state__in=["terminated", "error"]),
                name="instance_unique_live_ip_per_host",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    def get_absolute_url(self) -> str:
        return reverse("instance-detail", args=[self.public_id])

    @property
    def state_code(self) -> int:
        return STATE_CODES[self.state]

    @property
    def state_colour(self) -> str:
        return InstanceState.colour(self.state)

    @property
    def is_busy(self) -> bool:
        """Something will still happen by itself: a step is under way or the state is not final.

        The pages poll while this is true and stop (HTTP 286) once it is false.
        """
        return bool(self.step) or self.state in ("pending", "stopping", "shutting-down") or bool(self.task)


class InstanceTag(models.Model):
    """A key/value tag on an instance (EC2 tags: keys unique per instance, at most 50 per instance)."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=128)
    value = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["instance", "key"], name="tag_unique_key_per_instance")]
        indexes = [models.Index(fields=["key", "value"], name="tag_key_value_idx")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class Claim(models.Model):
    """One entry of a host's capacity ledger: what one instance holds there."""

    instance = models.ForeignKey(Instance, on_delete=models.PROTECT, related_name="claims")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="claims")
    kind = models.CharField(max_length=16, choices=ClaimKind.choices, default=ClaimKind.INSTANCE)
    vcpus = models.PositiveIntegerField()
    memory_mib = models.PositiveIntegerField()
    disk_gib = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "kind"], name="claim_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.instance} on {self.host}: {self.vcpus} vCPU / {self.memory_mib} MiB / {self.disk_gib} GiB"
