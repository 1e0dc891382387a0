"""`provisioning/db.py`'s statements built once (`Compiled`, `row_update`, `row_insert`, `rows_insert`): each
gives what the ORM call it stands for gives, on SQLite and on PostgreSQL (prepared there)."""
from __future__ import annotations

import pytest
from django.db import DatabaseError, connection
from django.db.models import F, Func, OuterRef, Q, Subquery
from django.test.utils import CaptureQueriesContext

from provisioning import db
from provisioning.db import Compiled, row_insert, row_update, rows_insert
from provisioning.models import Event, Host, Instance
from tests.factories import instance_factory

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in Instance._meta.concrete_fields]


def _same(a, b, fields) -> None:
    assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}


def test_compiled_rows_are_the_orm_rows_select_related_included(catalog, user):
    guests = instance_factory(user, 2)
    lock = Compiled(lambda pk: Instance.objects.select_for_update(of=("self",))
                    .select_related("host", "instance_type").filter(pk=pk))
    for g in guests:
        orm = Instance.objects.select_related("host", "instance_type").get(pk=g.pk)
        inst = lock.first(g.pk)  # the second call reuses the first one's statement
        _same(inst, orm, FIELDS)
        assert inst.host.name == orm.host.name and inst.instance_type.memory_mib == orm.instance_type.memory_mib
        assert isinstance(inst.boot_plan, dict) and inst._state.adding is False
    assert lock.first(10**9) is None


def test_compiled_values_list_with_each_argument_used_twice(catalog, user):
    instance_factory(user, 4)
    hosts = list(Host.objects.order_by("pk").values_list("pk", flat=True)[:3])
    on = Compiled(lambda a, b: Instance.objects.filter(Q(host_id=a) | Q(host_id=b) | Q(pk=a) | Q(pk=b))
                  .order_by("pk").values_list("public_id", "host_id"))
    for a, b in [(hosts[0], hosts[1]), (hosts[1], hosts[0]), (hosts[2], hosts[2])]:
        orm = Instance.objects.filter(Q(host_id=a) | Q(host_id=b) | Q(pk=a) | Q(pk=b)).order_by("pk")
        assert on.rows(a, b) == list(orm.values_list("public_id", "host_id"))
    assert any(on.rows(hosts[0], hosts[1]))


def test_compiled_refuses_an_argument_that_does_not_reach_the_statement(db):
    with pytest.raises(ValueError, match="does not reach the statement"):
        Compiled(lambda pk, unused: Host.objects.filter(pk=pk)).rows(1, 2)


def test_compiled_statement_is_built_once(catalog):
    host = Host.objects.order_by("pk").first()
    by_pk = Compiled(lambda pk: Host.objects.filter(pk=pk).only("name"))
    by_pk.first(host.pk)
    with CaptureQueriesContext(connection) as ctx:
        assert by_pk.first(host.pk).name == host.name
    assert len(ctx.captured_queries) == 1


def test_row_update_writes_the_named_fields_and_stamps_auto_now(catalog, user):
    (inst,) = instance_factory(user, 1)
    before = Instance.objects.get(pk=inst.pk)
    inst.task, inst.console_log = "migrating", "line"
    row_update(inst, ["task", "updated_at"])
    after = Instance.objects.get(pk=inst.pk)
    assert after.task == "migrating" and after.console_log == before.console_log  # only what was named
    assert after.updated_at > before.updated_at
    gone = Instance(pk=10**9)
    with pytest.raises(DatabaseError, match="is gone"):
        row_update(gone, ["task"])


def test_row_insert_is_save_force_insert(catalog, user):
    (inst,) = instance_factory(user, 1)
    event = row_insert(Event(instance=inst, owner_id=inst.owner_id, action="test.row_insert", message="m",
                             data={"k": [1, "two"]}))
    assert event.pk and event._state.adding is False
    stored = Event.objects.get(pk=event.pk)
    assert (stored.instance_id, stored.action, stored.data) == (inst.pk, "test.row_insert", {"k": [1, "two"]})
    assert stored.created_at is not None


def test_rows_insert_writes_many_rows_in_one_statement_and_sets_each_key(catalog, user):
    (inst,) = instance_factory(user, 1)
    events = [Event(instance=inst, owner_id=inst.owner_id, action=f"test.rows_{i}", message=str(i)) for i in range(3)]
    with CaptureQueriesContext(connection) as ctx:
        assert rows_insert(events) == events
    assert len(ctx.captured_queries) == 1
    assert [Event.objects.get(pk=e.pk).action for e in events] == ["test.rows_0", "test.rows_1", "test.rows_2"]
    assert all(e._state.adding is False for e in events) and rows_insert([]) == []


def test_row_update_writes_its_inserts_with_it(catalog, user):
    """On PostgreSQL the rows ride in the UPDATE (data-modifying WITH clauses): one statement."""
    (inst,) = instance_factory(user, 1)
    inst.task = "migrating"
    notes = [Event(instance=inst, owner_id=inst.owner_id, action="test.with_update", message=str(i)) for i in range(2)]
    with CaptureQueriesContext(connection) as ctx:
        row_update(inst, ["task"], inserts=[*notes, Event(instance=inst, owner_id=inst.owner_id, action="test.last",
                                                          message="")])
    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 2)  # one INSERT per model
    assert Instance.objects.get(pk=inst.pk).task == "migrating"
    assert list(Event.objects.filter(instance=inst, action__startswith="test.").order_by("pk")
                .values_list("action", "message")) == [("test.with_update", "0"), ("test.with_update", "1"),
                                                        ("test.last", "")]


def test_compiled_model_rows_carry_the_querysets_annotations(catalog, user):
    guests = instance_factory(user, 3)
    host_id = guests[0].host_id
    with_count = Compiled(lambda pk: Instance.objects.filter(pk=pk).annotate(
        on_host=Subquery(Instance.objects.filter(host_id=OuterRef("host_id")).order_by()
                         .annotate(n=Func(F("pk"), function="COUNT")).values("n"))))
    inst = with_count.first(guests[0].pk)
    assert inst.pk == guests[0].pk and inst.on_host == Instance.objects.filter(host_id=host_id).count()


def test_rows_insert_splits_what_one_statement_could_not_carry(catalog, user, monkeypatch):
    (inst,) = instance_factory(user, 1)
    monkeypatch.setattr(db, "MAX_INSERT_PARAMS", 25)  # an event has 10 columns: two rows per statement
    events = [Event(instance=inst, owner_id=inst.owner_id, action="test.split", message=str(i)) for i in range(5)]
    with CaptureQueriesContext(connection) as ctx:
        rows_insert(events)
    assert len(ctx.captured_queries) == 3 and len({e.pk for e in events}) == 5
    assert sorted(Event.objects.filter(action="test.split").values_list("message", flat=True)) == list("01234")
