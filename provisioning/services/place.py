"""Placing one saved, unplaced instance: claim capacity on the best host, record host, mode and address.

Runs inside the caller's request transaction (`launch.reservation_create`); this is what `make bench`
times, so it costs one ranking query, one claim statement and one placement statement.
"""
from __future__ import annotations

import ipaddress

from django.db import connection
from django.utils import timezone
from django.utils.text import slugify

from .. import driver
from ..choices import InstanceState
from ..db import Compiled, prepared_cursor
from ..models import Host, Instance
from ..placement import PlacementRequest, candidates
from .claims import claim_first, claim_release

# What placement changes on a freshly inserted instance (saved with update_fields).
PLACED_FIELDS = ["host", "virt_mode", "availability_zone", "private_ip", "hostname", "mac_address", "updated_at"]


# The addresses taken on a host (run on every switch-over: built once).
_ADDRESSES = Compiled(lambda host_id: Instance.objects.filter(host_id=host_id, private_ip__isnull=False)
                      .exclude(state__in=[InstanceState.TERMINATED, InstanceState.ERROR]).values_list("private_ip"))


def address_allocate(host: Host) -> str | None:
    """Lowest free address in the host's pool (.1-.3 are gateway, DNS and reserved, as in a VPC)."""
    network = ipaddress.IPv4Network(host.network_cidr, strict=False)
    used = {str(ip) for ip, in _ADDRESSES.rows(host.pk)}
    for offset, addr in enumerate(network.hosts()):
        if offset < 3:
            continue
        if str(addr) not in used:
            return str(addr)
    return None


# PostgreSQL: the lowest free address of the host's pool, computed and written with the placement
# in one statement. The claim just locked the host row, so no concurrent request places on this
# host before we commit, and this statement's snapshot sees every address taken before.
_PG_PLACE = """
WITH free AS MATERIALIZED (
    SELECT %(first)s::inet + g AS ip FROM generate_series(0, %(n)s - 1) g
    WHERE %(first)s::inet + g <> ALL(ARRAY(
        SELECT i.private_ip FROM provisioning_instance i
        WHERE i.host_id = %(host)s AND i.private_ip IS NOT NULL AND i.state NOT IN ('terminated', 'error')))
    ORDER BY g LIMIT 1
)
UPDATE provisioning_instance SET
    host_id = %(host)s, virt_mode = %(mode)s, availability_zone = %(az)s, mac_address = %(mac)s,
    updated_at = %(now)s, private_ip = free.ip,
    hostname = CASE WHEN %(name_host)s <> '' OR NOT %(ip_host)s THEN %(name_host)s
                    ELSE 'ip-' || replace(host(free.ip), '.', '-') END
FROM free
WHERE provisioning_instance.id = %(id)s
RETURNING host(private_ip), hostname
"""


def _pool(host: Host) -> tuple[str, int]:
    """The host's assignable addresses: the first one and how many (after .1-.3, before broadcast)."""
    network = ipaddress.IPv4Network(host.network_cidr, strict=False)
    first = int(network.network_address) + 4
    last = int(network.broadcast_address) - 1 if network.prefixlen < 31 else int(network.broadcast_address)
    return str(ipaddress.IPv4Address(first)), max(0, last - first + 1)


def _record_placement_pg(inst: Instance, host: Host, virt_mode: str) -> bool:
    """Write host, mode, address and names in one UPDATE; False if the host's pool is full."""
    first, n = _pool(host)
    if n <= 0:
        return False
    mac = driver.mac_for(inst)
    now = timezone.now()
    with prepared_cursor() as cur:
        cur.execute(_PG_PLACE, {
            "host": host.pk, "mode": virt_mode, "az": host.availability_zone, "mac": mac, "now": now,
            "name_host": slugify(inst.name)[:63] if inst.name else "", "ip_host": not inst.name,
            "first": first, "n": n, "id": inst.pk,
        })
        row = cur.fetchone()
    if row is None:
        return False
    inst.host, inst.virt_mode, inst.availability_zone, inst.mac_address = host, virt_mode, host.availability_zone, mac
    inst.private_ip, inst.hostname, inst.updated_at = row[0], row[1], now
    return True


def hostname_for(inst: Instance, ip: str) -> str:
    """The guest's name on its network: its own name, else its address (EC2's ip-10-0-0-5), so a guest
    that moves to another address is renamed with it."""
    return slugify(inst.name)[:63] if inst.name else "ip-" + ip.replace(".", "-")


def _record_placement(inst: Instance, host: Host, virt_mode: str) -> bool:
    """Write host, mode, address and names (the portable path); False if the pool is full."""
    ip = address_allocate(host)
    if ip is None:
        return False
    inst.host = host
    inst.virt_mode = virt_mode
    inst.availability_zone = host.availability_zone
    inst.private_ip = ip
    inst.hostname = hostname_for(inst, ip)
    inst.mac_address = driver.mac_for(inst)
    inst.save(update_fields=PLACED_FIELDS)
    return True


def instance_place(inst: Instance, req: PlacementRequest) -> bool:
    """Place a saved, unplaced instance: rank the hosts (one query), claim capacity on the best one
    that still has it (one statement), record host, mode and address (one statement). False if no
    host can take it. Runs inside the caller's transaction; this is what `make bench` times."""
    options = {option.host_id: option for option in candidates(req)}
    record = _record_placement_pg if connection.vendor == "postgresql" else _record_placement
    while options:
        # Best first; on PostgreSQL hosts that concurrent requests are claiming are skipped.
        claim = claim_first(instance=inst, host_ids=list(options))
        if claim is None:
            return False  # other requests took the room first
        option = options.pop(claim.host_id)
        if not record(inst, option.host, option.virt_mode):
            claim_release(instance=inst)  # its address pool is full: give the room back, try the next
            continue
        return True
    return False
