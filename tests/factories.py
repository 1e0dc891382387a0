"""Test factories (HackSoft `testing_examples/tests/factories.py` style): one way to make each domain row.

Rows a user owns are made through the public services, so a factory-made row is one a surface could
have made (quota, placement, claims and events included); fleet rows (hosts, instance types) are
declarations and are written directly. Every argument has a default a test may override: a test
names only what its point is.
"""
from __future__ import annotations

from itertools import count

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.contrib.auth import get_user_model

from provisioning.fixtures.demo import host_modes
from provisioning.models import AccessKey, Host, Instance, InstanceType, KeyPair, Reservation, SecurityGroup
from provisioning.services.access_keys import access_key_create
from provisioning.services.keypairs import keypair_import
from provisioning.services.launch import instance_launch
from provisioning.services.security_groups import RuleSpec, security_group_create
from tests.fixtures_domain import drain


def _launch(**fields) -> Reservation:
    """The one launch entry point the surfaces call (switching the factories to another is here)."""
    return instance_launch(**fields).reservation


VT = ("vmx", "ept", "lm")  # CPU flags of a host with hardware virtualization
NO_VT = ("lm",)
_seq = count(1)
_cidr = count(1)


def user_factory(username: str | None = None, *, password: str = "pass-123-abc", staff: bool = False):
    """A user (a superuser when `staff`); the name is unique unless given."""
    model = get_user_model()
    username = username or f"user-{next(_seq)}"
    if staff:
        return model.objects.create_superuser(username, password=password)
    return model.objects.create_user(username, password=password)


def reservation_factory(user, n: int = 1, *, appliance: str = "ubuntu-lamp", instance_type: str = "t3.small",
                        min_count: int | None = None, **fields) -> Reservation:
    """Launch `n` instances for `user` through the launch service (all or nothing unless `min_count`).

    `fields` are the service's own (name, key_name, security_groups, placement_group, ...).
    """
    return _launch(user=user, appliance=appliance, instance_type=instance_type,
                   min_count=n if min_count is None else min_count, max_count=n, **fields)


def instance_factory(user, n: int = 1, **fields) -> list[Instance]:
    """The instances of `reservation_factory(user, n, **fields)`, oldest first: `(inst,) = instance_factory(u)`."""
    return list(reservation_factory(user, n, **fields).instances.order_by("pk"))


def running_instance_factory(user, **fields) -> Instance:
    """One instance taken through the launch pipeline (run inline by `drain`, which settles every
    pending instance) to `running`."""
    (inst,) = instance_factory(user, **fields)
    drain()
    inst.refresh_from_db()
    assert inst.state == "running", inst.state
    return inst


def public_key_factory(comment: str = "") -> str:
    """A fresh OpenSSH ed25519 public key line, with `comment` appended when given."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}" if comment else line


def keypair_factory(user, name: str = "laptop", *, public_key: str | None = None) -> KeyPair:
    """An imported key pair (no private key to keep: tests that need one call `keypair_create`)."""
    return keypair_import(user=user, name=name, public_key=public_key or public_key_factory())


def security_group_factory(user, name: str = "web", *, rules: tuple[RuleSpec, ...] = (),
                           description: str = "") -> SecurityGroup:
    return security_group_create(user=user, name=name, description=description, rules=rules)


def access_key_factory(user, description: str = "", *, read_only: bool = False) -> AccessKey:
    """An access key for SigV4 requests (the secret is on `access_key_create`'s result, not here)."""
    return access_key_create(user=user, description=description, read_only=read_only).access_key


def host_factory(name: str, *, az: str = "sky-1a", features=VT, threads: int = 16, memory_gib: float = 64,
                 disk_gib: int = 1000, state: str = "enabled", up: bool = True, cpu_ratio: float = 4.0,
                 ram_ratio: float = 1.0, reserved_mib: int = 2048, max_instances: int = 200,
                 modes: list[str] | None = None) -> Host:
    """A host with `threads` hardware threads (limits follow from the ratios and reserved memory)."""
    n = next(_cidr)
    return Host.objects.create(
        name=name, availability_zone=az, cpu_model="test CPU", cpu_features=list(features),
        supported_modes=modes if modes is not None else host_modes(list(features)),
        sockets=1, cores_per_socket=threads, threads_per_core=1, memory_mib=int(memory_gib * 1024),
        disk_gib=disk_gib, network_cidr=f"10.{200 + n // 250}.{n % 250}.0/24", state=state, is_up=up,
        cpu_allocation_ratio=cpu_ratio, ram_allocation_ratio=ram_ratio, reserved_memory_mib=reserved_mib,
        max_instances=max_instances,
    )


def instance_type_factory(name: str, vcpus: int, memory_mib: int, disk_gib: int = 10) -> InstanceType:
    """Make (or fetch) an instance type: `instance_type_factory("x8.32", 8, 32 * 1024, 50)`."""
    return InstanceType.objects.get_or_create(
        name=name, defaults={"vcpus": vcpus, "memory_mib": memory_mib, "disk_gib": disk_gib})[0]
