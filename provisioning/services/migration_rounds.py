"""What a live migration's steps ask between its start and its end: a slot on both hosts' links
(vMotion's 4 on 1 GbE, 8 on 10 GbE), its share of those links for the next round, the progress the
simulator reports, and KubeVirt's no-progress timeout. Split from `migrations.py` (start, abort,
force-complete, switch-over, end), which locks the same host rows the same way (`HOSTS_LOCK`).
"""
from __future__ import annotations

import math

from django.conf import settings
from django.db.models import F, Func, OuterRef, Q, QuerySet, Subquery

from .. import driver
from ..choices import MIGRATION_MOVING
from ..db import Compiled
from ..models import Host, Migration
from ..units import mib_label


def migration_slots(host: Host) -> int:
    """Concurrent live migrations a host takes part in (SKYPORT_MIGRATION_SLOTS, else by its NIC)."""
    return int(getattr(settings, "SKYPORT_MIGRATION_SLOTS", 0) or driver.migration_slots(host))


def _link_words(host: Host) -> str:
    return "10 GbE" if host.nic_mibps >= 1000 else "1 GbE"


def _moving_on_any(host_ids: list[int]):
    """Migrations moving over any of these hosts' links (one query serves both ends of a move)."""
    return Migration.objects.filter(status__in=MIGRATION_MOVING).filter(Q(source_host_id__in=host_ids)
                                                                       | Q(dest_host_id__in=host_ids))


# Run on every admission: built once (`Compiled`).
_MOVING = Compiled(lambda a, b: _moving_on_any([a, b]).order_by("pk")
                   .values_list("public_id", "source_host_id", "dest_host_id"))
# Both ends of a move, locked in id order (as claims lock hosts: FOR NO KEY UPDATE; see migrations.py).
HOSTS_LOCK = Compiled(lambda a, b: Host.objects.select_for_update(no_key=True).filter(pk__in=[a, b]).order_by("pk"))


def admission_wait(mig: Migration) -> str:
    """What a migration waits for before it may start copying ("" when it may start now).

    Locks both host rows (in id order), so two migrations cannot take the last slot together.
    """
    hosts = HOSTS_LOCK.rows(mig.source_host_id, mig.dest_host_id)
    moving = [row for row in _MOVING.rows(mig.source_host_id, mig.dest_host_id) if row[0] != mig.public_id]
    for host in sorted(hosts, key=lambda h: h.pk != mig.source_host_id):
        busy = [public_id for public_id, src, dst in moving if host.pk in (src, dst)]
        slots = migration_slots(host)
        if len(busy) >= slots:
            return (f"waiting for a migration slot on {host.name}: {len(busy)} of {slots} in use on its "
                    f"{_link_words(host)} link ({', '.join(busy[:8])})")
    return ""


def _moving_over(host_ref: str) -> Subquery:
    """How many migrations move over the link of the row's host `host_ref` (a count, as a subquery)."""
    host = OuterRef(host_ref)
    return Subquery(Migration.objects.filter(status__in=MIGRATION_MOVING)
                    .filter(Q(source_host_id=host) | Q(dest_host_id=host)).order_by()
                    .annotate(n=Func(F("pk"), function="COUNT")).values("n"))


def links_annotate(rows: QuerySet) -> QuerySet:
    """The migration kind's lock also counts the moves over both of a migration's links, in the same
    statement (its `annotate`): a round's share of the links costs no statement of its own."""
    return rows.annotate(moving_on_source=_moving_over("source_host_id"), moving_on_dest=_moving_over("dest_host_id"))


def round_bandwidth(mig: Migration) -> float:
    """This migration's share of its links: each link is split among the migrations moving over it,
    as the step's own lock counted them (`links_annotate`, the migration kind's `annotate`)."""
    src, dst = mig.source_host, mig.dest_host
    return min(driver.link_share(src.nic_mibps, mig.moving_on_source or 1),
               driver.link_share(dst.nic_mibps, mig.moving_on_dest or 1))


# The simulator's progress figures the record keeps under the same names (Nova's byte fields and the rest).
PROGRESS_FIELDS = ("round", "memory_total_bytes", "memory_processed_bytes", "memory_remaining_bytes",
                   "dirty_rate_mibps", "transfer_rate_mibps", "throttle_pct", "elapsed_s", "converging", "eta_s",
                   "note")


def progress_apply(mig: Migration, progress: dict) -> None:
    """Copy the simulator's progress onto the record."""
    for name in PROGRESS_FIELDS:
        setattr(mig, name, progress[name])
    mig.predicted_downtime_ms = progress["stop_and_copy_downtime_ms"]
    if progress["downtime_ms"]:
        mig.downtime_ms = progress["downtime_ms"]


def no_progress_reason(mig: Migration) -> str:
    """KubeVirt's progress timeout: the remaining memory has not shrunk for `progress_timeout_s`."""
    remaining = mig.memory_remaining_bytes
    if mig.best_remaining_bytes is None or remaining < mig.best_remaining_bytes:
        mig.best_remaining_bytes, mig.progress_at_s = remaining, mig.elapsed_s
        return ""
    stalled = mig.elapsed_s - mig.progress_at_s
    if not mig.progress_timeout_s or stalled <= mig.progress_timeout_s:
        return ""
    return (f"no progress for {stalled:.0f} s (limit {mig.progress_timeout_s:g} s): "
            f"{mib_label(math.ceil(remaining / 2**20))} still to copy; dirty rate {mig.dirty_rate_mibps:.0f} MiB/s "
            f"against {mig.transfer_rate_mibps:.0f} MiB/s of bandwidth")
