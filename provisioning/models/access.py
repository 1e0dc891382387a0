"""What a tenant owns besides instances: quota, key pairs, security groups, placement groups."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from ..choices import (
    PlacementStrategy,
    Protocol,
)
from .ids import new_public_id


class OwnedResource(models.Model):
    """What a tenant names and owns (key pairs, security groups, placement groups): an EC2-style
    public id (`id_prefix`-…), the owner, a name unique per owner, and when it was made.

    There is no reverse accessor on the user: a user's rows are read through the selectors
    (`owned_get`, `keypair_list`, ...), where tenancy lives.
    """

    id_prefix = ""  # "key", "sg", "pg"

    public_id = models.CharField(max_length=24, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="%(class)s_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.public_id:
            self.public_id = new_public_id(self.id_prefix)
        super().save(*args, **kwargs)


class Quota(models.Model):
    """Per-user limits; usage is counted from live instances inside the request transaction."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota")
    instances = models.PositiveIntegerField()
    vcpus = models.PositiveIntegerField()
    memory_mib = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"quota for {self.user}"



class KeyPair(OwnedResource):
    """An SSH public key; the private key of a generated pair is shown once and never stored."""

    id_prefix = "key"
    key_type = models.CharField(max_length=16, default="ed25519")
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=128)


class SecurityGroup(OwnedResource):
    """Access rules (ingress) applied to an instance's virtual-switch port at boot."""

    id_prefix = "sg"
    description = models.CharField(max_length=255, blank=True)

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


class PlacementGroup(OwnedResource):
    """Instances kept together (affinity) or apart (anti-affinity) by the placement filters."""

    id_prefix = "pg"
    strategy = models.CharField(max_length=16, choices=PlacementStrategy.choices)
    strict = models.BooleanField(default=True, help_text="strict: refuse rather than break the rule")
