"""A migration that ends wakes its host's maintenance without waiting for the maintenance row: a worker
that waited there would sit idle while an evacuate runs (PostgreSQL: SQLite has no row locks)."""
from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from provisioning.models import Host, Maintenance
from provisioning.pipeline import engine
from provisioning.pipeline.maintenance_steps import BUSY_RETRY_S, STEP_FIELDS, WAKE_FALLBACK_S, maintenance_wake
from provisioning.services.maintenance import maintenance_enter
from tests.fixtures_domain import drain

from .conftest import pack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def sent(monkeypatch):
    """The step messages published (instead of the broker)."""
    out: list[tuple] = []
    monkeypatch.setattr(engine, "step_enqueue",
                        lambda *, kind, object_id, seq, countdown=0.0: out.append((kind, object_id, seq, countdown)))
    return out


def _entering(user) -> Maintenance:
    pack(user, "hv-01", 3)
    m = maintenance_enter(host=Host.objects.get(name="hv-01"), actor="root")
    assert m.step == "evacuate"
    return m


def test_a_wake_while_an_evacuate_holds_the_row_sends_its_next_step_and_a_fallback(catalog, user, sent):
    m = _entering(user)
    sent.clear()
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def evacuate_running() -> None:  # holds the row as a running evacuate does, then schedules its next step
        try:
            with transaction.atomic():
                row = Maintenance.objects.select_for_update().get(pk=m.pk)
                held.set()
                release.wait(30)
                engine.step_prepare(row, "evacuate", 60.0)
                row.save(update_fields=STEP_FIELDS)
        finally:
            connections.close_all()
            done.set()

    holder = threading.Thread(target=evacuate_running)
    holder.start()
    assert held.wait(30)
    try:
        with connection.cursor() as cur:  # a wake that waited for the row would fail here, not hang
            cur.execute("SET lock_timeout = '5s'")
        maintenance_wake(host_id=m.host_id, status="failed")
        assert not done.is_set(), "the wake returned only once the holder had committed"
        # The wake's early message does not wait for the row either: it is sent again for a little later
        # (the kind's busy_retry_s); one older than the row's step is stale at once.
        assert engine.step_advance(kind="maintenance", object_id=m.pk, seq=m.step_seq + 1) == "busy"
        assert engine.step_advance(kind="maintenance", object_id=m.pk, seq=m.step_seq - 1) == "stale"
        assert not done.is_set()
    finally:
        release.set()
        holder.join(30)
        with connection.cursor() as cur:
            cur.execute("SET lock_timeout = 0")
    assert sent == [("maintenance", m.pk, m.step_seq + 1, 0.0), ("maintenance", m.pk, m.step_seq, WAKE_FALLBACK_S),
                    ("maintenance", m.pk, m.step_seq + 1, BUSY_RETRY_S)]
    # Once the holder has committed, the step it scheduled runs now; the fallback is stale.
    assert engine.step_advance(kind="maintenance", object_id=m.pk, seq=m.step_seq + 1) == "done"
    assert engine.step_advance(kind="maintenance", object_id=m.pk, seq=m.step_seq) == "stale"


def test_a_wake_on_a_free_row_schedules_the_step_now_once(catalog, user, sent):
    m = _entering(user)
    # The evacuate has run and waits on its slow safety poll (every guest is moving).
    engine.step_advance(kind="maintenance", object_id=m.pk, seq=m.step_seq)
    m.refresh_from_db()
    sent.clear()
    maintenance_wake(host_id=m.host_id, status="failed")
    maintenance_wake(host_id=m.host_id, status="failed")  # a step is due now: nothing more to send
    assert sent == [("maintenance", m.pk, m.step_seq + 1, 0.0)]
    drain()
    assert Maintenance.objects.get(pk=m.pk).status == "in_maintenance"
