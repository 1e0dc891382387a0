"""Reads, shared by every surface. Tenancy lives here: a user's selectors only see their own rows."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from .choices import LIVE_STATES
from .exceptions import NotFound
from .models import Appliance, Event, Host, Instance, InstanceType, KeyPair, SecurityGroup


def appliance_list() -> QuerySet[Appliance]:
    return Appliance.objects.filter(is_public=True)


def appliance_get(*, ref: str) -> Appliance:
    qs = appliance_list()
    app = qs.filter(public_id=ref).first() or qs.filter(slug=ref).first()
    if app is None:
        raise NotFound(f"Appliance '{ref}' does not exist.")
    return app


def instance_type_list() -> QuerySet[InstanceType]:
    return InstanceType.objects.all()


def instance_list(*, user) -> QuerySet[Instance]:
    return Instance.objects.filter(owner=user).select_related("appliance", "instance_type", "host")


def instance_get(*, user, public_id: str) -> Instance:
    """The caller's own instance or NotFound (never 403: don't reveal that it exists)."""
    inst = instance_list(user=user).filter(public_id=public_id).first()
    if inst is None:
        raise NotFound(f"Instance '{public_id}' does not exist.")
    return inst


def instance_events(*, instance: Instance) -> QuerySet[Event]:
    return instance.events.all()


def event_list(*, user) -> QuerySet[Event]:
    return Event.objects.filter(owner=user).select_related("instance")


def keypair_list(*, user) -> QuerySet[KeyPair]:
    return KeyPair.objects.filter(owner=user)


def security_group_list(*, user) -> QuerySet[SecurityGroup]:
    return SecurityGroup.objects.filter(owner=user).prefetch_related("rules")


def availability_zone_list() -> list[str]:
    """The fleet's availability zones, sorted."""
    return sorted(set(Host.objects.values_list("availability_zone", flat=True)))


# --------------------------------------------------------------------------- staff (every tenant)
def host_list() -> QuerySet[Host]:
    """The fleet, each host with its count of live guests (`guests`)."""
    return Host.objects.annotate(
        guests=Count("instances", filter=Q(instances__state__in=LIVE_STATES))).order_by("name")


def host_get(*, name: str) -> Host:
    host = host_list().filter(name=name).first()
    if host is None:
        raise NotFound(f"Host '{name}' does not exist. GET /api/v1/staff/hosts/ lists the fleet.")
    return host


def host_guests(*, host: Host) -> QuerySet[Instance]:
    """The live instances on a host (every tenant's), largest memory first."""
    return (Instance.objects.filter(host=host, state__in=LIVE_STATES)
            .select_related("owner", "appliance", "instance_type", "host")
            .order_by("-instance_type__memory_mib", "public_id"))


def instance_list_all() -> QuerySet[Instance]:
    """Every tenant's instances (staff)."""
    return Instance.objects.select_related("owner", "appliance", "instance_type", "host", "reservation",
                                           "placement_group").prefetch_related("security_groups")


def instance_get_any(*, public_id: str) -> Instance:
    inst = instance_list_all().filter(public_id=public_id).first()
    if inst is None:
        raise NotFound(f"Instance '{public_id}' does not exist.")
    return inst
