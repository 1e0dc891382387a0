"""Cloud-manager domain: catalog, fleet, capacity claims, instances, access, events.

Invariants kept by the database where it can: a host's used figures never exceed its limits
(CHECK constraints, the last guard behind the conditional updates in `services.claims`), one
claim of each kind per instance, one live instance per private IP on a host.
"""
from __future__ import annotations

import hashlib
import math
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from .choices import (
    HOST_STATE_COLOURS,
    STATE_CODES,
    STATE_COLOURS,
    Architecture,
    ClaimKind,
    HostState,
    InstanceState,
    OsFamily,
    PlacementStrategy,
    Protocol,
    TaskState,
)


def new_public_id(prefix: str) -> str:
    """EC2-style identifier: prefix + 17 lowercase hex digits."""
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def stable_public_id(prefix: str, seed: str) -> str:
    """Deterministic identifier (seeded catalog entries keep their ami- id across reseeds)."""
    return f"{prefix}-{hashlib.sha1(seed.encode()).hexdigest()[:17]}"


def _instance_id() -> str:
    return new_public_id("i")


def _reservation_id() -> str:
    return new_public_id("r")


def _sg_id() -> str:
    return new_public_id("sg")


def _key_id() -> str:
    return new_public_id("key")


def _ami_id() -> str:
    return new_public_id("ami")


def _pg_id() -> str:
    return new_public_id("pg")


# --------------------------------------------------------------------------- catalog
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

    class Meta:
        ordering = ["vcpus", "memory_mib", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.vcpus} vCPU, {self.memory_gib_display} GiB, {self.disk_gib} GiB disk)"

    @property
    def memory_gib_display(self) -> str:
        gib = self.memory_mib / 1024
        return f"{gib:g}" if gib >= 1 else f"{gib:.2g}"


# --------------------------------------------------------------------------- fleet
class Host(models.Model):
    """A physical host in the resource pool and its capacity ledger totals.

    `*_limit` are the schedulable totals (physical x allocation ratio, less reserved memory),
    recomputed on save; `*_used` always equal the sum of the host's claims.
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
    state = models.CharField(max_length=16, choices=HostState.choices, default=HostState.ENABLED)
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

    def clean(self) -> None:
        """Refuse settings that would put the host's limits below what its instances already claim
        (the CHECK constraints would refuse the save; an operator needs to be told why)."""
        super().clean()
        errors: dict[str, str] = {}
        for name in ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                errors[name] = "Must be greater than 0 (1.0 means no overcommit)."
        if errors:
            raise ValidationError(errors)
        if None in (self.sockets, self.cores_per_socket, self.threads_per_core, self.memory_mib,
                     self.reserved_memory_mib, self.disk_gib, self.max_instances):
            return  # the field errors say what is missing
        self.compute_limits()
        fix = "migrate or terminate instances first, or keep the limit at least that high."
        if self.vcpus_limit < self.vcpus_used:
            errors["cpu_allocation_ratio"] = (
                f"These settings give {self.vcpus_limit} schedulable vCPUs, but instances on {self.name} "
                f"claim {self.vcpus_used}: {fix}")
        if self.memory_mib_limit < self.memory_mib_used:
            errors["memory_mib"] = (
                f"These settings give {self.memory_mib_limit} MiB of schedulable memory, but instances on "
                f"{self.name} claim {self.memory_mib_used} MiB: {fix}")
        if self.disk_gib_limit < self.disk_gib_used:
            errors["disk_gib"] = (
                f"These settings give {self.disk_gib_limit} GiB of schedulable disk, but instances on "
                f"{self.name} claim {self.disk_gib_used} GiB: {fix}")
        if self.max_instances < self.instances_used:
            errors["max_instances"] = f"{self.name} runs {self.instances_used} instances: {fix}"
        if errors:
            raise ValidationError(errors)

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
        return HOST_STATE_COLOURS.get(self.state, "grey")

    @property
    def vcpus_free(self) -> int:
        return self.vcpus_limit - self.vcpus_used

    @property
    def memory_mib_free(self) -> int:
        return self.memory_mib_limit - self.memory_mib_used

    @property
    def disk_gib_free(self) -> int:
        return self.disk_gib_limit - self.disk_gib_used


class Quota(models.Model):
    """Per-user limits; usage is counted from live instances inside the request transaction."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota")
    instances = models.PositiveIntegerField()
    vcpus = models.PositiveIntegerField()
    memory_mib = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"quota for {self.user}"


# --------------------------------------------------------------------------- access
class KeyPair(models.Model):
    """An SSH public key; the private key of a generated pair is shown once and never stored."""

    public_id = models.CharField(max_length=24, unique=True, default=_key_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="key_pairs")
    name = models.CharField(max_length=255)
    key_type = models.CharField(max_length=16, default="ed25519")
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="keypair_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name


class SecurityGroup(models.Model):
    """Access rules (ingress) applied to an instance's virtual-switch port at boot."""

    public_id = models.CharField(max_length=24, unique=True, default=_sg_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="security_groups")
    name = models.CharField(max_length=255)
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="sg_unique_name_per_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class SecurityGroupRule(models.Model):
    group = models.ForeignKey(SecurityGroup, on_delete=models.CASCADE, related_name="rules")
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.TCP)
    from_port = models.IntegerField(default=22)
    to_port = models.IntegerField(default=22)
    cidr = models.CharField(max_length=43, default="0.0.0.0/0")
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        ports = "all" if self.protocol in ("-1", "icmp") else (
            str(self.from_port) if self.from_port == self.to_port else f"{self.from_port}-{self.to_port}"
        )
        return f"{self.get_protocol_display()} {ports} from {self.cidr}"


class PlacementGroup(models.Model):
    public_id = models.CharField(max_length=24, unique=True, default=_pg_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="placement_groups")
    name = models.CharField(max_length=255)
    strategy = models.CharField(max_length=16, choices=PlacementStrategy.choices)
    strict = models.BooleanField(default=True, help_text="strict: refuse rather than break the rule")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="pg_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------- instances
class Reservation(models.Model):
    """One launch request (EC2 reservation): min_count..max_count instances launched together."""

    public_id = models.CharField(max_length=24, unique=True, default=_reservation_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reservations")
    min_count = models.PositiveIntegerField(default=1)
    max_count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.public_id


class Instance(models.Model):
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
    # A generated password, kept only until the owner has seen it once (then blanked).
    initial_password = models.CharField(max_length=64, blank=True)
    credentials_shown_at = models.DateTimeField(null=True, blank=True)
    console_log = models.TextField(blank=True)
    # Pipeline bookkeeping: the step to run next, a sequence number that makes redelivered
    # messages no-ops, and when the current step is expected to be done (for the reconciler).
    step = models.CharField(max_length=24, blank=True)
    step_seq = models.PositiveIntegerField(default=0)
    step_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    step_attempts = models.PositiveSmallIntegerField(default=0)
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
        return STATE_COLOURS.get(self.state, "grey")

    @property
    def is_busy(self) -> bool:
        """True while a pipeline step is under way (the UI keeps polling)."""
        return bool(self.step) or self.state in ("pending", "stopping", "shutting-down") or bool(self.task)


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


class Event(models.Model):
    """Audit trail: every transition and decision, read by the UI, the API and operators."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    actor = models.CharField(max_length=150, default="system")
    action = models.CharField(max_length=40)
    message = models.TextField()
    level = models.CharField(max_length=8, default="info")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action}: {self.message}"


class IdempotencyRecord(models.Model):
    """Remembers a create request by (owner, key) so a retry returns the original result."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=40)
    request_hash = models.CharField(max_length=64)
    reservation = models.ForeignKey(Reservation, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "scope", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
