"""The maintenance kind on the step engine: empty a host, then call it `maintenance`.

One step, `evacuate`, run again and again while the host is entering maintenance: it starts live
migrations for running idle guests, largest first, as long as the host has free migration slots
(the rest say they wait for one; the migration engine still checks every link), re-homes stopped
guests, and records what is left and why. Only when no guest is left does the host become
`maintenance`. A migration off the host that ends wakes the step (`maintenance_wake`, from the
migration service) when there is something to do; a slow safety poll stands behind the wake-ups,
and a guest busy with something else (booting, stopping) is polled.
A guest whose migrations failed `MAX_ATTEMPTS` times is not retried in a loop: it stays listed with
the last reason, and the operator cancels, stops it (it is then re-homed) or fixes the cause.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from ..choices import LIVE_STATES, MIGRATION_ACTIVE, HostState, MaintenanceStatus
from ..db import Compiled, row_update
from ..exceptions import SkyportError
from ..models import Host, Instance, Maintenance, Migration
from ..services.events import event_record
from ..services.maintenance import instance_rehome
from ..services.migration_rounds import migration_slots
from ..services.migrations import migrations_start
from ..units import mib_label
from .engine import StepKind, StepOutcome, register_kind, step_grace_s, step_publish, step_schedule

MAX_ATTEMPTS = 2
WAKE_FALLBACK_S = 0.5  # real seconds: see maintenance_wake
BUSY_RETRY_S = 0.02  # real seconds: a step message that finds the row held comes back this much later
STEP_FIELDS = ("step", "step_seq", "step_attempts", "step_unsent_at", "step_due_at")
FAILED = ("failed", "error", "cancelled")
BUSY = "moves once it is idle"


def _setting(name: str, default):
    return getattr(settings, name, default)


def _why_migrating(mig: Migration) -> str:
    left = mig.memory_remaining_bytes or mig.memory_total_bytes
    if mig.status == "queued":
        return f"queued ({mig.public_id} to {mig.dest_host.name}): {mig.reason or 'waits for a free slot'}"
    progress = f", round {mig.round}, {mib_label(left / 2**20)} left" if mig.round else ""
    return f"migrating ({mig.public_id} to {mig.dest_host.name}, {mig.status}{progress})"


# What every evacuate reads (built once, `Compiled`): the host's guests, largest first, with only what
# the step reads (the services it calls load and lock each one they act on); the host's migrations
# under way, with what `_why_migrating` says of them; and the failed ones per guest since the
# maintenance began.
_GUESTS = Compiled(lambda host_id: Instance.objects.filter(host_id=host_id, state__in=LIVE_STATES)
                   .only("pk", "public_id", "state", "task", "step", "host_id")
                   .order_by("-instance_type__memory_mib", "-instance_type__vcpus", "public_id"))
_ACTIVE = Compiled(lambda host_id: Migration.objects.filter(source_host_id=host_id, status__in=MIGRATION_ACTIVE)
                   .select_related("dest_host").order_by()
                   .only("instance_id", "public_id", "status", "reason", "round", "memory_remaining_bytes",
                         "memory_total_bytes", "dest_host__name"))
_FAILURES = Compiled(lambda host_id, maintenance_id: Migration.objects
                     .filter(source_host_id=host_id, status__in=FAILED,
                             created_at__gte=Maintenance.objects.filter(pk=maintenance_id).values("created_at")[:1])
                     .values_list("instance_id").annotate(n=Count("id")).order_by())


def _guests(host: Host) -> list[Instance]:
    return _GUESTS.rows(host.pk)


def _situation(m: Maintenance, guests: list[Instance]) -> Iterator[tuple[Instance, str, str]]:
    """Each guest with what the step does next ("", "migrate", "rehome") and, when it stays for now, why."""
    host = m.host
    active = {mig.instance_id: mig for mig in _ACTIVE.rows(host.pk)}
    failures = dict(_FAILURES.rows(host.pk, m.pk))
    slots = migration_slots(host)
    free = slots - len(active)
    for inst in guests:
        if inst.pk in active:
            yield inst, "", _why_migrating(active[inst.pk])
        elif inst.task or inst.step or inst.state not in ("running", "stopped"):
            yield inst, "", f"{inst.get_task_display() or inst.state}: {BUSY}"
        elif failures.get(inst.pk, 0) >= MAX_ATTEMPTS:
            last = Migration.objects.filter(instance=inst, source_host=host, status__in=FAILED).first()
            yield inst, "", (f"could not move after {MAX_ATTEMPTS} attempts: {last.reason if last else 'failed'}. "
                             "Stop it (a stopped guest is re-homed), fix the cause, or cancel the maintenance")
        elif inst.state == "stopped":
            yield inst, "rehome", "the maintenance re-homes it next"
        elif free > 0:
            free -= 1
            yield inst, "migrate", "the maintenance migrates it next"
        else:
            yield inst, "", f"waits for a migration slot: {slots} of {slots} of {host.name}'s in use"


def maintenance_remaining(m: Maintenance) -> list[dict]:
    """What is left on the host now and why (read live, for the API; the step stores its own view)."""
    if m.status != MaintenanceStatus.ENTERING:
        return list(m.remaining)
    return [{"instance": inst.public_id, "state": inst.state, "why": why}
            for inst, _next, why in _situation(m, _guests(m.host))]


def step_evacuate(m: Maintenance) -> StepOutcome:
    if m.status != MaintenanceStatus.ENTERING:
        return StepOutcome(None)
    host = m.host
    guests = _guests(host)
    if not guests:
        return _entered(m)
    actor = f"maintenance {m.public_id}"
    situation = list(_situation(m, guests))
    moving = [inst for inst, action, _ in situation if action == "migrate"]
    started = dict(zip([inst.pk for inst in moving], migrations_start(
        actor=actor, instances=moving, note=f"maintenance of {host.name}"), strict=True)) if moving else {}
    remaining: list[dict] = []
    for inst, action, why in situation:
        if action == "migrate":
            mig = started[inst.pk]
            if isinstance(mig, SkyportError):
                why = f"cannot move now: {mig.message}"
            else:
                m.migrations_started += 1
                why = f"migration {mig.public_id} to {mig.dest_host.name} accepted"
        elif action == "rehome":
            try:
                instance_rehome(instance=inst, actor=actor)
                m.rehomed += 1
                continue
            except SkyportError as exc:
                why = f"cannot re-home now: {exc.message}"
        remaining.append({"instance": inst.public_id, "state": inst.state, "why": why})
    m.remaining = remaining
    m.note = (f"{len(remaining)} of {m.guests_total} guest(s) still on {host.name}; "
              f"{m.migrations_started} migration(s) started, {m.rehomed} stopped guest(s) re-homed")
    if not remaining:
        return StepOutcome("evacuate")  # re-homing emptied it: confirm at once
    if any(BUSY in r["why"] for r in remaining):  # busy with something else: look again soon
        return StepOutcome("evacuate", _setting("SKYPORT_MAINTENANCE_POLL_S", 5.0),
                           wait_s=_setting("SKYPORT_MAINTENANCE_POLL_WAIT_S", 1.0))
    # Only migrations (whose end wakes this step) or guests waiting for an operator: a slow safety poll.
    return StepOutcome("evacuate", _setting("SKYPORT_MAINTENANCE_IDLE_POLL_S", 60.0),
                       wait_s=_setting("SKYPORT_MAINTENANCE_IDLE_POLL_WAIT_S", 30.0))


def _entered(m: Maintenance) -> StepOutcome:
    host = Host.objects.select_for_update().get(pk=m.host_id)
    host.state = HostState.MAINTENANCE
    host.save(update_fields=["state"])
    m.status, m.entered_at, m.remaining = MaintenanceStatus.IN_MAINTENANCE, timezone.now(), []
    m.note = (f"{host.name} is empty and in maintenance: {m.migrations_started} live migration(s), "
              f"{m.rehomed} stopped guest(s) re-homed")
    event_record(action="host.maintenance_entered", host=host, message=m.note + "; its hypervisor can be upgraded",
                 data={"maintenance": m.public_id})
    return StepOutcome(None)


def maintenance_fail(m: Maintenance, reason: str) -> None:
    """The reconciler gave up: the host returns to service with its guests wherever they are now."""
    m.status, m.reason, m.finished_at = MaintenanceStatus.FAILED, reason, timezone.now()
    Host.objects.filter(pk=m.host_id, state=HostState.ENTERING_MAINTENANCE).update(state=HostState.ENABLED)
    event_record(action="host.maintenance_failed", host=m.host, level="error",
                 message=f"Maintenance {m.public_id} of {m.host.name} failed: {reason}",
                 data={"maintenance": m.public_id})


# Run after every migration off a host that ends: built once (`Compiled`). Whether each guest left on
# the host is moving now; the host's maintenance, locked, if it is entering.
_LEFT_MOVING = Compiled(lambda host_id: Instance.objects.filter(host_id=host_id, state__in=LIVE_STATES).order_by()
                        .annotate(moving=Exists(Migration.objects.filter(instance=OuterRef("pk"),
                                                                          status__in=MIGRATION_ACTIVE)))
                        .values_list("moving"))
_ENTERING = Compiled(lambda host_id: Maintenance.objects.filter(host_id=host_id, status=MaintenanceStatus.ENTERING)
                     .only("pk", *STEP_FIELDS).order_by("pk")[:1])
_ENTERING_LOCK = Compiled(lambda host_id: Maintenance.objects.select_for_update(skip_locked=True)
                          .filter(host_id=host_id, status=MaintenanceStatus.ENTERING, step="evacuate")
                          .only("pk", *STEP_FIELDS).order_by("pk")[:1])


def maintenance_wake(*, host_id: int, status: str = "") -> None:
    """A migration off `host_id` ended: let the host's maintenance look again now when there is
    something to do (a guest waits for the freed slot, the last move ended, or one failed).

    Called after the migration's commit, and it never waits for the maintenance row: a worker that
    waited here would sit idle for as long as an evacuate runs. When the row is free, it schedules
    the step now, unless a step message is already due (that step runs after this commit and sees the
    freed slot: one wake-up, not one per migration that ended). When another transaction holds the
    row, most often an evacuate that may have read the fleet before this commit, it sends the message
    of the step that evacuate schedules next (sequence number n + 1: it runs once the holder commits;
    until then the engine sends it again every `BUSY_RETRY_S` rather than let a worker wait for the
    row, the kind's `busy_retry_s`), and, `WAKE_FALLBACK_S` later, that of the row's current step n,
    for a holder that does not move the sequence on (the reconciler's brief lock). Whichever is
    current then runs; the other is stale.
    """
    if status == "completed":
        left = [moving for moving, in _LEFT_MOVING.rows(host_id)]
        if left and all(left):
            return  # every guest left is already moving: the last one to end wakes it
    with transaction.atomic():
        m = _ENTERING_LOCK.first(host_id)
        held = _ENTERING.first(host_id) if m is None else None  # entering, but another transaction holds it
        if m is not None:
            if m.step_due_at and m.step_due_at <= timezone.now() + timedelta(seconds=step_grace_s(0)):
                return
            step_schedule(m, "evacuate")
            row_update(m, STEP_FIELDS)
    if held is not None:  # after the transaction, as every publish (one that fails marks the row for the reconciler)
        step_publish(kind=MAINTENANCE_KIND.name, object_id=held.pk, seq=held.step_seq + 1)
        step_publish(kind=MAINTENANCE_KIND.name, object_id=held.pk, seq=held.step_seq, countdown=WAKE_FALLBACK_S)


MAINTENANCE_KIND = register_kind(StepKind(
    name="maintenance", model=Maintenance, steps={"evacuate": step_evacuate}, on_fail=maintenance_fail,
    select_related=("host",), defer=("preflight",), busy_retry_s=BUSY_RETRY_S,
    stuck_note="; the host is back in service, its guests where they are now",
))
