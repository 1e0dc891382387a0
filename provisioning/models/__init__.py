"""Cloud-manager domain: catalog, fleet, capacity claims, instances, access, events.

Invariants kept by the database where it can: a host's used figures never exceed its limits
(CHECK constraints, the last guard behind the conditional updates in `services.claims`), one
claim of each kind per instance, one live instance per private IP on a host.
"""
from __future__ import annotations

from .access import KeyPair, PlacementGroup, Quota, SecurityGroup, SecurityGroupRule
from .balancing import BalancingPolicy
from .catalog import Appliance, InstanceType
from .credentials import AccessKey
from .events import Event, IdempotencyRecord
from .fleet import Host
from .ids import (
    _access_key_id,
    _ami_id,
    _instance_id,
    _key_id,
    _pg_id,
    _reservation_id,
    _sg_id,
    new_public_id,
    stable_public_id,
)
from .instances import Claim, Instance, InstanceTag, Reservation
from .maintenance import Maintenance
from .operations import Migration, MigrationRound
from .stepped import Stepped

__all__ = [
    "AccessKey", "Appliance", "BalancingPolicy", "Claim", "Event", "Host", "IdempotencyRecord", "Instance",
    "InstanceTag", "InstanceType", "KeyPair", "Maintenance", "Migration", "MigrationRound", "PlacementGroup", "Quota",
    "Reservation", "SecurityGroup", "SecurityGroupRule", "Stepped",
    "_access_key_id", "_ami_id", "_instance_id", "_key_id", "_pg_id", "_reservation_id", "_sg_id", "new_public_id",
    "stable_public_id",
]
