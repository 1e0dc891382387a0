"""What placement decides on: the request (guest and constraints) and a candidate host row.

Filters, weighers and the scheduler all import these from here, so the arrows inside
`placement/` point one way: request <- filters, weighers <- scheduler.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from ..models import Appliance, Host, InstanceType, PlacementGroup


@dataclass
class PlacementRequest:
    appliance: Appliance
    instance_type: InstanceType
    availability_zone: str = ""
    virt_mode: str = ""
    placement_group: PlacementGroup | None = None
    exclude_host_ids: list[int] = field(default_factory=list)
    # Per-request memo (the simulator's verdict per CPU class); reused across a reservation's instances.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def guest_key(self) -> tuple:
        """Everything about the guest that the filters' SQL and the simulator's verdict depend on."""
        a, it = self.appliance, self.instance_type
        return (a.pk, a.architecture, tuple(a.supported_modes or ()), a.os_family, a.os_name, a.os_version,
                a.kernel, a.pv_aware, a.open_source_kernel, it.vcpus, it.memory_mib, it.disk_gib)

    def describe(self) -> dict:
        it = self.instance_type
        return {
            "appliance": self.appliance.public_id, "appliance_name": self.appliance.name,
            "instance_type": it.name, "vcpus": it.vcpus, "memory_mib": it.memory_mib, "disk_gib": it.disk_gib,
            "availability_zone": self.availability_zone or None, "virt_mode": self.virt_mode or None,
            "placement_group": self.placement_group.name if self.placement_group else None,
        }



class CandidateHost:
    """A candidate host as the candidate query returns it: the columns of CANDIDATE_FIELDS plus the
    weighers' annotations, as attributes. Weighers, the mode choice and the claim read only these,
    so a decision builds no model instances (16 of them cost more than the query itself)."""

    def __init__(self, columns: list[str], values: tuple) -> None:
        self.__dict__.update(zip(columns, values, strict=True))

    def model(self) -> Host:
        """The Host model of this row (other fields load on access)."""
        names = [f.attname for f in Host._meta.concrete_fields if f.attname in self.__dict__]
        return Host.from_db(connection.alias, names, [self.__dict__[name] for name in names])
