"""Reads, shared by every surface. Tenancy lives here: a user's selectors only see their own rows."""
from __future__ import annotations

from django.db.models import QuerySet

from .exceptions import NotFound
from .models import Appliance, Event, Instance, InstanceType, KeyPair, SecurityGroup


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
