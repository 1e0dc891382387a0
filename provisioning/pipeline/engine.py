"""The step engine: every long operation is a `Stepped` row moved forward one step per Celery task.

A kind (`StepKind`) names a model, its table of steps and how an operation of that kind fails.
`step_advance` locks the row, checks that the message's sequence number is still the current one
(a redelivered or stale message does nothing), runs the step, records what it names next and
schedules it with a countdown of `simulated duration x SKYPORT_SIM_SPEED`. Workers never sleep
through simulated time, and one task (`provisioning.advance(kind, id, seq)`) serves every kind.
The reconciler (`pipeline.reconciler`) re-drives overdue steps of every registered kind.

Two kinds may share a model (their step names must differ): the step a row waits on says which
kind drives it, so dispatch needs no kind column.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from ..db import Compiled, row_insert, row_update
from ..models import Stepped

log = logging.getLogger("skyport.pipeline")

# Extra time a step may take past its countdown before the reconciler calls it lost: a base for the
# queue's latency and the step's own run (SKYPORT_STEP_GRACE_S) plus this share of the countdown, so
# the grace scales with the simulated durations (and SKYPORT_SIM_SPEED) instead of a fixed minute.
STEP_GRACE_SHARE = 0.5
QUEUE_UNREACHABLE = "queued: the task queue is unreachable; it resumes by itself"


@dataclass(frozen=True)
class StepOutcome:
    """What a step names next (None: the operation is over) and its simulated duration.

    `wait_s` is a floor in real seconds, for a step that polls (a queued migration re-checks its
    slot): at SKYPORT_SIM_SPEED 0 it would otherwise run again at once, over and over.
    """

    next_step: str | None
    delay_s: float = 0.0
    wait_s: float = 0.0


class StepFailed(Exception):
    """A step cannot go on; the kind's `on_fail` ends the operation with this reason."""


@dataclass(frozen=True)
class StepKind:
    """One kind of stepped operation: its rows, its step table and how it fails.

    `on_fail(row, reason)` ends the operation cleanly (the caller holds the row and saves it);
    `lock_of` names the rows the lock takes with the row (its own, "self", first; then related rows
    its steps would lock next anyway, in the kind's lock order: one statement instead of two);
    `annotate(rows)` adds what the steps read of other rows to the lock's statement (as annotations);
    `busy_retry_s`: 0 (the default), a step message waits for its row while another transaction holds
    it (holders are brief); above 0, it does not wait but is sent again that many real seconds later,
    for a kind whose steps hold their row for long and whose row other work wakes meanwhile (the
    maintenance's evacuate: a worker blocked behind it would idle for the whole step);
    `on_redrive(row, message, data)` records a re-dispatch (an event); `stuck_note` is appended
    to the reconciler's reason when it gives up (what the failure undid, in words). `defer` names
    fields the steps do not need: the lock does not read them and the save does not write them.
    """

    name: str
    model: type[Stepped]
    steps: Mapping[str, Callable[[Stepped], StepOutcome]]
    on_fail: Callable[[Stepped, str], None]
    select_related: tuple[str, ...] = ()
    lock_of: tuple[str, ...] = ("self",)
    annotate: Callable[[models.QuerySet], models.QuerySet] | None = None
    busy_retry_s: float = 0.0
    defer: tuple[str, ...] = ()
    on_redrive: Callable[[Stepped, str, dict], None] | None = None
    stuck_note: str = ""
    label: Callable[[Stepped], str] = field(default=lambda row: str(getattr(row, "public_id", row.pk)))

    def pending(self) -> models.QuerySet:
        """Rows waiting on one of this kind's steps."""
        return self.model.objects.filter(step__in=list(self.steps))

    def locked(self, **lookups) -> models.QuerySet:
        rows = self.model.objects.select_for_update(**lookups, of=self.lock_of).defer(*self.defer)
        if self.annotate is not None:
            rows = self.annotate(rows)
        # (select_related() with no names would join every foreign key, recursively)
        return rows.select_related(*self.select_related) if self.select_related else rows

    @cached_property
    def lock_one(self) -> Compiled:
        """The row by primary key, locked (skipped while another transaction holds it, for a kind with
        `busy_retry_s`): built once, as every step message runs it."""
        return Compiled(lambda pk: self.locked(skip_locked=self.busy_retry_s > 0).filter(pk=pk).order_by())

    @cached_property
    def step_of(self) -> Compiled:
        """The row's sequence number and step, read without a lock."""
        return Compiled(lambda pk: self.model.objects.filter(pk=pk).order_by().values_list("step_seq", "step"))


def row_values(row: Stepped) -> dict:
    """The row's loaded columns and their values (what `row_save` compares against)."""
    deferred = row.get_deferred_fields()
    return {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields
            if not f.primary_key and f.attname not in deferred}


def row_save(row: Stepped, loaded: dict | None = None) -> None:
    """`row.save()` through a statement built once per column set, with the rows the step asked to
    insert (`step_insert`) in the same statement. Given the values `row_values` read when the row was
    locked, it writes only the columns that changed, JSON columns (changed in place, maybe) and
    `auto_now` ones; else every loaded column."""
    values = row_values(row)
    if loaded is not None:
        stamped = _stamped(type(row))
        values = {name: value for name, value in values.items()
                  if name in stamped or isinstance(value, dict | list) or loaded.get(name, _UNSET) != value}
    inserts = _PENDING.get() or ()
    _PENDING.set(None)  # the step is over: what runs on its commit inserts at once
    row_update(row, list(values), inserts=inserts)


_UNSET = object()
_STAMPED: dict[type, frozenset[str]] = {}


def _stamped(model: type[Stepped]) -> frozenset[str]:
    """Columns whose value the save itself sets (`auto_now`)."""
    names = _STAMPED.get(model)
    if names is None:
        names = _STAMPED[model] = frozenset(f.attname for f in model._meta.concrete_fields
                                            if getattr(f, "auto_now", False))
    return names


# Rows a running step inserts with its own row's save (None outside `step_advance`).
_PENDING: ContextVar[list[models.Model] | None] = ContextVar("skyport_step_inserts", default=None)


def step_insert(obj: models.Model) -> None:
    """Insert a new row (a migration's round, an event) that commits with the running step: written in
    the same statement as the step's row, so it costs no round trip of its own. Its key is not read
    back. Outside a step it is inserted at once. Only for rows no savepoint of the step can roll back:
    call it from the step's own code, not inside a nested `transaction.atomic()` that may fail."""
    pending = _PENDING.get()
    if pending is None:
        row_insert(obj)
    else:
        pending.append(obj)


_KINDS: dict[str, StepKind] = {}


def register_kind(kind: StepKind) -> StepKind:
    """Add a kind (idempotent for the same object); refuses a name or a step another kind owns."""
    existing = _KINDS.get(kind.name)
    if existing is kind:
        return kind
    if existing is not None:
        raise ValueError(f"step kind '{kind.name}' is already registered")
    for other in _KINDS.values():
        shared = set(other.steps) & set(kind.steps) if other.model is kind.model else set()
        if shared:
            raise ValueError(f"steps {sorted(shared)} of {kind.name} already belong to {other.name}")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """For tests that register a kind of their own."""
    _KINDS.pop(name, None)


def kinds() -> Iterator[StepKind]:
    return iter(list(_KINDS.values()))


def kind_get(name: str) -> StepKind | None:
    return _KINDS.get(name)


def kind_of(row: Stepped, step: str) -> StepKind:
    """The kind whose table holds `step` for this row's model."""
    for kind in _KINDS.values():
        if isinstance(row, kind.model) and step in kind.steps:
            return kind
    raise LookupError(f"no registered step kind runs step '{step}' of {type(row).__name__}")


# --------------------------------------------------------------------------- scheduling
def countdown_for(delay_s: float) -> float:
    """Simulated seconds to wall-clock seconds (SKYPORT_SIM_SPEED), capped for the broker."""
    return min(max(0.0, delay_s) * settings.SKYPORT_SIM_SPEED, settings.SKYPORT_MAX_COUNTDOWN_S)


def step_grace_s(countdown: float) -> float:
    """Seconds past a step's countdown before the reconciler re-sends it."""
    return settings.SKYPORT_STEP_GRACE_S + STEP_GRACE_SHARE * max(0.0, countdown)


def step_prepare(row: Stepped, step: str | None, delay_s: float = 0.0, wait_s: float = 0.0) -> float:
    """Only set the next step's fields (no message yet); returns the countdown for `step_dispatch`.

    Lets a request write the first step with the row's INSERT and dispatch it only once the row is
    placed.
    """
    row.step = step or ""
    row.step_seq += 1
    row.step_attempts = 0
    row.step_unsent_at = None
    if not step:
        row.step_due_at = None
        return 0.0
    countdown = max(countdown_for(delay_s), wait_s)
    row.step_due_at = timezone.now() + timedelta(seconds=countdown + step_grace_s(countdown))
    return countdown


def step_dispatch(row: Stepped, countdown: float = 0.0) -> None:
    """Enqueue the step set on `row` when the transaction commits (never if it rolls back)."""
    kind, pk, seq = kind_of(row, row.step).name, row.pk, row.step_seq
    transaction.on_commit(lambda: step_publish(kind=kind, object_id=pk, seq=seq, countdown=countdown))


def step_schedule(row: Stepped, step: str | None, delay_s: float = 0.0, wait_s: float = 0.0) -> None:
    """Set the next step on `row` (caller saves) and enqueue it when the transaction commits."""
    countdown = step_prepare(row, step, delay_s, wait_s)
    if step:
        step_dispatch(row, countdown)


# Publishing happens after the commit, so the request has already succeeded: a broker that does not
# answer must not turn it into an error (or hang the page). Try briefly, log, and let the reconciler
# re-send the step once it is overdue.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def step_enqueue(*, kind: str, object_id: int, seq: int, countdown: float = 0.0) -> bool:
    """Publish one step; False (logged) when the broker is unreachable."""
    from ..tasks import advance  # imported here: `tasks` imports this module

    try:
        advance.apply_async((kind, object_id, seq), countdown=countdown, retry=True, retry_policy=PUBLISH_RETRY)
    except Exception as exc:  # kombu/redis connection errors vary by transport
        log.warning("could not publish step %s of %s %s (%s); the reconciler will re-send it",
                    seq, kind, object_id, exc)
        return False
    return True


def step_publish(*, kind: str, object_id: int, seq: int, countdown: float = 0.0, resend: bool = False) -> bool:
    """Publish one step and keep the row's word on it: a failed publish marks the step unsent and
    due now (the reconciler re-sends it on its first pass once the queue answers again); a re-send
    that gets through clears the mark."""
    sent = step_enqueue(kind=kind, object_id=object_id, seq=seq, countdown=countdown)
    sk = _KINDS.get(kind)
    if sk is None or (sent is not False and not resend):  # (test doubles of step_enqueue return None: sent)
        return sent is not False
    current = sk.model.objects.filter(pk=object_id, step_seq=seq)
    if sent is False:
        now = timezone.now()
        current.update(step_unsent_at=now, step_due_at=now)
    else:
        current.filter(step_unsent_at__isnull=False).update(step_unsent_at=None)
    return sent is not False


def step_note(row: Stepped) -> str:
    """What the pages say about a pending step beyond its name ("" when there is nothing to say)."""
    return QUEUE_UNREACHABLE if row.step and row.step_unsent_at else ""


# --------------------------------------------------------------------------- running
def step_fail(kind: StepKind, row: Stepped, reason: str) -> None:
    """End the operation through its kind (caller holds the row and saves); no step is left."""
    kind.on_fail(row, reason)
    if row.step:
        step_prepare(row, None)


def _busy_or_gone(sk: StepKind, object_id: int, seq: int) -> str:
    """No row came back from the lock: gone, or (a `busy_retry_s` kind) held by another transaction.
    A held row whose step `seq` (or, for a wake-up sent ahead, the step its holder schedules) has not
    run yet gets this message again shortly; by then the holder has committed."""
    if not sk.busy_retry_s:
        return "gone"
    current = sk.step_of.first(object_id)
    if current is None:
        return "gone"
    if current[0] > seq or (current[0] == seq and not current[1]):
        return "stale"
    name, delay = sk.name, sk.busy_retry_s
    transaction.on_commit(lambda: step_publish(kind=name, object_id=object_id, seq=seq, countdown=delay))
    return "busy"


def step_advance(*, kind: str, object_id: int, seq: int) -> str:
    """Run the step that message `seq` was sent for, exactly once: "done", "failed", "stale", "gone",
    or "busy" (its row was held, and the message was sent again for later: `busy_retry_s`)."""
    sk = _KINDS.get(kind)
    if sk is None:
        log.error("step message for unknown kind %r (object %s, seq %s) dropped", kind, object_id, seq)
        return "unknown kind"
    token = _PENDING.set([])
    try:
        return _advance(sk, object_id, seq)
    finally:
        _PENDING.reset(token)


def _advance(sk: StepKind, object_id: int, seq: int) -> str:
    with transaction.atomic():
        row = sk.lock_one.first(object_id)
        if row is None:
            return _busy_or_gone(sk, object_id, seq)
        if row.step_seq != seq or not row.step:
            return "stale"
        loaded = row_values(row)
        step = sk.steps.get(row.step)
        try:
            if step is None:
                raise StepFailed(f"unknown {sk.name} step '{row.step}'")
            outcome = step(row)
        except StepFailed as exc:
            step_fail(sk, row, str(exc))
            row_save(row, loaded)
            return "failed"
        step_schedule(row, outcome.next_step, outcome.delay_s, outcome.wait_s)
        row_save(row, loaded)
        return "done"
