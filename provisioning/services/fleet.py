"""Synthetic fleets for scale tests and benchmarks: thousands of hosts, running instances, exact ledger.

Rows are written in bulk (PostgreSQL COPY, SQLite executemany) with ids reserved up front, so
10,000 hosts and 100,000 instances take seconds, not the minutes the ORM's per-object path would.
The ledger is computed in Python while instances are dealt out and written with the hosts, so the
fleet starts exact: used = sum of claims, nothing above its limits, every claim's instance live.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from .. import driver
from ..demo import APPLIANCES, HOST_PROFILES, INSTANCE_TYPES, host_modes
from ..models import (
    Appliance,
    Claim,
    Event,
    Host,
    Instance,
    InstanceType,
    Reservation,
    new_public_id,
    stable_public_id,
)

# Sizes synthetic guests get, with relative frequency.
TYPE_MIX = (("t3.micro", 3), ("t3.small", 4), ("t3.medium", 3), ("m5.large", 2), ("m5.xlarge", 1))
INSTANCES_PER_RESERVATION = 10
INSTANCES_PER_USER = 100


@dataclass
class FleetReport:
    prefix: str
    hosts: int
    instances: int
    users: int
    seconds: float

    def as_dict(self) -> dict:
        return {"prefix": self.prefix, "hosts": self.hosts, "instances": self.instances, "users": self.users,
                "seconds": round(self.seconds, 2)}


# --------------------------------------------------------------------------- bulk writing
def _reserve_ids(model, n: int) -> list[int]:
    """`n` fresh primary keys for `model` (taken from its sequence on PostgreSQL)."""
    if n == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", [n])
            return [row[0] for row in cur.fetchall()]
        cur.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608 - our own table name
        start = cur.fetchone()[0] + 1
    return list(range(start, start + n))


def _db_values(obj) -> dict[str, object]:
    """Column -> database value for every concrete field of an unsaved object (defaults applied)."""
    out = {}
    for f in obj._meta.concrete_fields:
        out[f.column] = f.get_db_prep_save(f.pre_save(obj, add=True), connection)
    return out


def _write(table: str, columns: list[str], rows) -> int:
    """Insert rows (tuples in `columns` order): COPY on PostgreSQL, executemany elsewhere."""
    rows = list(rows)
    if not rows:
        return 0
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cur.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)  # noqa: S608
    return len(rows)


def _write_templated(model, template, varying: list[str], rows: list[tuple]) -> int:
    """Rows that differ from `template` (an unsaved object) only in the `varying` columns."""
    base = _db_values(template)
    columns = list(base)
    fixed = [c for c in columns if c not in varying]
    return _write(model._meta.db_table, varying + fixed,
                  (row + tuple(base[c] for c in fixed) for row in rows))


# --------------------------------------------------------------------------- catalog and users
def catalog_ensure() -> None:
    """The demo marketplace and instance types (not its hosts), if missing."""
    if Appliance.objects.exists() and InstanceType.objects.exists():
        return
    for row in APPLIANCES:
        (slug, name, vendor, fam, osn, ver, kernel, arch, stack, cat, tags, size, mv, mm, md, modes, pv, oss, user,
         desc) = row
        Appliance.objects.get_or_create(slug=slug, defaults=dict(
            public_id=stable_public_id("ami", slug), name=name, vendor=vendor, os_family=fam, os_name=osn,
            os_version=ver, kernel=kernel, architecture=arch, stack=stack, category=cat, tags=tags,
            image_size_mib=size, min_vcpus=mv, min_memory_mib=mm, min_disk_gib=md, supported_modes=modes,
            pv_aware=pv, open_source_kernel=oss, default_user=user, description=desc))
    for name, vcpus, mem, disk, desc in INSTANCE_TYPES:
        InstanceType.objects.get_or_create(name=name, defaults=dict(vcpus=vcpus, memory_mib=mem, disk_gib=disk,
                                                                    description=desc))


def _users(prefix: str, n: int) -> list[int]:
    User = get_user_model()
    names = [f"{prefix}-user-{i:05d}" for i in range(n)]
    User.objects.bulk_create([User(username=u, password="!") for u in names],  # "!": no password login
                             ignore_conflicts=True, batch_size=2000)
    return list(User.objects.filter(username__in=names).order_by("username").values_list("pk", flat=True))


# --------------------------------------------------------------------------- the fleet
def fleet_clear(*, prefix: str) -> int:
    """Delete a synthetic fleet (its hosts, their instances, claims, events, reservations, users)."""
    hosts = list(Host.objects.filter(name__startswith=f"{prefix}-").values_list("pk", flat=True))
    if not hosts:
        return 0
    inst = Instance.objects.filter(host_id__in=hosts)
    res_ids = list(inst.values_list("reservation_id", flat=True).distinct())
    with transaction.atomic():
        for qs in (Claim.objects.filter(host_id__in=hosts), Event.objects.filter(instance__host_id__in=hosts),
                   Event.objects.filter(host_id__in=hosts),
                   Instance.security_groups.through.objects.filter(instance__host_id__in=hosts), inst,
                   Reservation.objects.filter(pk__in=res_ids, instances__isnull=True),
                   Host.cached_appliances.through.objects.filter(host_id__in=hosts), Host.objects.filter(pk__in=hosts)):
            qs._raw_delete(qs.db)  # no per-row collection: these are plain bulk deletes
        get_user_model().objects.filter(username__startswith=f"{prefix}-user-").delete()
    return len(hosts)


def _profiles() -> list[tuple]:
    """Demo host profiles, each repeated by its count: the fleet's hardware mix."""
    mix = []
    for count, *profile in HOST_PROFILES:
        mix += [tuple(profile)] * count
    return mix


@transaction.atomic
def fleet_build(*, hosts: int, instances: int, zones: int = 4, prefix: str = "fl", seed: int = 1,
                replace: bool = False) -> FleetReport:
    """Build `hosts` hosts and `instances` running instances (with claims) in one transaction."""
    started = time.perf_counter()
    if Host.objects.filter(name__startswith=f"{prefix}-").exists():
        if not replace:
            raise ValueError(f"A fleet named {prefix}-* exists already; pass replace=True (--replace) to rebuild it.")
        fleet_clear(prefix=prefix)
    catalog_ensure()
    rnd = random.Random(seed)
    now = timezone.now()
    zone_names = [f"sky-1{chr(ord('a') + i)}" for i in range(max(1, zones))]
    types = {t.name: t for t in InstanceType.objects.all()}
    mix = [(types[name], weight) for name, weight in TYPE_MIX if name in types] or \
        [(t, 1) for t in types.values()]
    type_pool = [t for t, w in mix for _ in range(w)]
    appliances = list(Appliance.objects.filter(is_public=True).order_by("pk"))

    # Hosts: in Python first (limits computed by the model), ledger kept alongside.
    host_ids = _reserve_ids(Host, hosts)
    profiles = _profiles()
    host_objs: list[Host] = []
    for i, pk in enumerate(host_ids):
        model, features, sockets, cores, threads, mem_gib, disk_gib, nic = profiles[i % len(profiles)]
        roll = rnd.random()
        state, up = ("maintenance", True) if roll < 0.02 else ("disabled", True) if roll < 0.03 else \
            ("enabled", roll >= 0.035)
        h = Host(pk=pk, name=f"{prefix}-{i:05d}", availability_zone=zone_names[i % len(zone_names)],
                 cpu_model=model, cpu_features=list(features), supported_modes=host_modes(list(features)),
                 sockets=sockets, cores_per_socket=cores, threads_per_core=threads, memory_mib=mem_gib * 1024,
                 disk_gib=disk_gib, disk_mibps=800.0 if disk_gib >= 2000 else 250.0, nic_mibps=nic,
                 hypervisor_version="7.0.3" if {"ept", "npt"} & set(features) else "6.5.0",
                 network_cidr=f"10.{64 + i // 256}.{i % 256}.0/24", state=state, is_up=up, created_at=now)
        h.compute_limits()
        host_objs.append(h)

    # Which appliances (and in which mode) each hardware profile can run: the simulator decides.
    runnable: dict[tuple, list[tuple[Appliance, str]]] = {}
    for h in host_objs[: len(profiles)]:
        key = tuple(sorted(h.cpu_features))
        options = []
        for app in appliances:
            mode, _why = driver.mode_choose(h, app, type_pool[0])
            if mode and f",{mode}," in h.modes_csv:
                options.append((app, mode))
        runnable[key] = options

    # Deal instances out: random host, next one along when it is full.
    n_users = max(1, -(-instances // INSTANCES_PER_USER))
    user_ids = _users(prefix, n_users) if instances else []
    inst_ids = _reserve_ids(Instance, instances)
    res_ids = _reserve_ids(Reservation, -(-instances // INSTANCES_PER_RESERVATION))
    used = {h.pk: [0, 0, 0, 0] for h in host_objs}  # vcpus, memory, disk, instances
    inst_rows, claim_rows, cached = [], [], set()
    res_rows = []
    placed = 0
    for i, pk in enumerate(inst_ids):
        it = type_pool[rnd.randrange(len(type_pool))]
        start = rnd.randrange(len(host_objs))
        for step in range(len(host_objs)):
            h = host_objs[(start + step) % len(host_objs)]
            u = used[h.pk]
            if (u[0] + it.vcpus <= h.vcpus_limit and u[1] + it.memory_mib <= h.memory_mib_limit
                    and u[2] + it.disk_gib <= h.disk_gib_limit and u[3] + 1 <= h.max_instances):
                options = [o for o in runnable[tuple(sorted(h.cpu_features))]
                           if o[0].min_vcpus <= it.vcpus and o[0].min_memory_mib <= it.memory_mib
                           and o[0].min_disk_gib <= it.disk_gib]
                if options:
                    break
        else:
            raise ValueError(f"The fleet is full after {placed} instances; use more hosts or fewer instances.")
        app, mode = options[rnd.randrange(len(options))]
        u[0] += it.vcpus
        u[1] += it.memory_mib
        u[2] += it.disk_gib
        u[3] += 1
        ip = f"{h.network_cidr.rsplit('.', 1)[0]}.{3 + u[3]}"
        public_id = new_public_id("i")
        owner = user_ids[(i // INSTANCES_PER_RESERVATION) % len(user_ids)]
        res = res_ids[i // INSTANCES_PER_RESERVATION]
        if i % INSTANCES_PER_RESERVATION == 0:
            res_rows.append((res, new_public_id("r"), owner))
        state = "stopped" if rnd.random() < 0.05 else "running"
        inst_rows.append((pk, public_id, owner, res, app.pk, it.pk, h.pk, h.availability_zone, state, mode,
                          "ip-" + ip.replace(".", "-"), ip, driver.mac_for(SimpleNamespace(public_id=public_id)),
                          app.default_user))
        claim_rows.append((pk, h.pk, it.vcpus, it.memory_mib, it.disk_gib))
        cached.add((h.pk, app.pk))
        placed += 1

    for h in host_objs:
        h.vcpus_used, h.memory_mib_used, h.disk_gib_used, h.instances_used = used[h.pk]
    host_values = [_db_values(h) for h in host_objs]
    if host_values:
        cols = list(host_values[0])
        _write(Host._meta.db_table, cols, (tuple(v[c] for c in cols) for v in host_values))
    _write(Host.cached_appliances.through._meta.db_table, ["host_id", "appliance_id"], sorted(cached))
    _write_templated(Reservation, Reservation(owner_id=user_ids[0] if user_ids else None, created_at=now),
                     ["id", "public_id", "owner_id"], res_rows)
    template = Instance(owner_id=0, reservation_id=0, appliance_id=0, instance_type_id=0, state="running",
                        task="", created_at=now, launched_at=now, updated_at=now, boot_plan={})
    _write_templated(Instance, template,
                     ["id", "public_id", "owner_id", "reservation_id", "appliance_id", "instance_type_id", "host_id",
                      "availability_zone", "state", "virt_mode", "hostname", "private_ip", "mac_address",
                      "login_user"], inst_rows)
    _write(Claim._meta.db_table, ["instance_id", "host_id", "vcpus", "memory_mib", "disk_gib", "kind", "created_at"],
           (row + ("instance", now) for row in claim_rows))
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:  # fresh statistics, so the planner sees the fleet's real size
            for model in (Host, Instance, Claim, Reservation):
                cur.execute(f'ANALYZE "{model._meta.db_table}"')
    return FleetReport(prefix, len(host_objs), placed, len(user_ids), time.perf_counter() - started)
