"""Hot-path SQL on PostgreSQL: statements planned once per connection instead of on every call.

Django binds parameters on the client and never prepares (psycopg's ClientCursor), so PostgreSQL
parses and plans every statement anew. The placement statements run on every request and their
planning cost more than their execution (the candidate query: ~0.4 ms planning, ~0.2 ms
executing on the 10,000-host fleet). `prepared_cursor` gives a psycopg server-binding cursor that
prepares each statement it runs, wrapped by Django (same transaction, error translation, query
logging for tests), so the plan is reused for the life of the connection (CONN_MAX_AGE).

Statements whose best plan depends on their values (the candidate query's partial-index
predicate) are run with their values inlined (`inline`), so the one plan is the specific plan.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators

# Prepared statements kept per connection (psycopg's default is 100): one per request shape
# (appliance x instance type x zone x options) and a handful of fixed ones.
PREPARED_MAX = 512
EXPLICIT_ONLY = 2**31 - 1  # psycopg's prepare_threshold: never by count, only with prepare=True


def postgres() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def _cursor_class():
    import psycopg

    class PreparingCursor(psycopg.Cursor):
        """Server-side binding, and every statement prepared (plan cached by the connection)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


_CURSOR_CLASS = None


def prepared_cursor():
    """A cursor on the default connection whose statements PostgreSQL plans once per connection.

    Elsewhere (SQLite) it is the ordinary Django cursor: the sqlite3 module caches compiled
    statements by text already. So it is with SKYPORT_DB_PREPARE off (a pooler in transaction mode).
    """
    global _CURSOR_CLASS
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute of the `connection` proxy is a lookup
    if db.vendor != "postgresql" or not settings.SKYPORT_DB_PREPARE:
        return db.cursor()
    if _CURSOR_CLASS is None:
        _CURSOR_CLASS = _cursor_class()
    db.ensure_connection()
    raw = db.connection
    if raw.prepared_max != PREPARED_MAX:
        # Django turns psycopg's statement preparation off (None); allow it, for explicit requests
        # only: Django's own cursors bind on the client and never prepare anyway.
        raw.prepare_threshold = EXPLICIT_ONLY
        raw.prepared_max = PREPARED_MAX
    return db._prepare_cursor(_CURSOR_CLASS(raw))


def inline(sql: str, params: Sequence) -> tuple[str, tuple | None]:
    """`sql` with its parameters quoted into the text (PostgreSQL), for statements whose plan must
    see the values; unchanged elsewhere. Run the result as `cursor.execute(sql, params)`: None
    params keep psycopg from reading the literals' % signs as placeholders."""
    if not postgres():
        return sql, tuple(params)
    return (connection.ops.compose_sql(sql, params) if params else sql), None


# --------------------------------------------------------------------------- statements built once
# The ORM spends longer building a statement than PostgreSQL spends running it (0.3-0.8 ms of Python
# per statement against ~0.05 ms of round trip). The step engine runs a handful of the same
# statements on every step, so these helpers let the ORM build each one once per process (per
# database alias) and run it through `prepared_cursor` after that: `Compiled` for a queryset (rows
# decoded into model instances exactly as the ORM would, select_related included), `row_update`
# and `row_insert` for `save(update_fields=...)` and `save(force_insert=True)`.
_MARK = -(2**62)  # a value no caller passes: where the queryset's arguments land in its parameters


class Compiled:
    """A queryset built by `build(*args)` once, then run with new scalar arguments.

    `build` must give the same SQL for any arguments (no argument may change the statement's shape),
    and its arguments must be scalars the lookups pass through unchanged (ids, names, states).
    `.rows(*args)` returns what iterating the queryset would: model instances, or tuples for a
    `values_list` queryset.
    """

    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build
        self.arity = len(inspect.signature(build).parameters)
        self._plans: dict[str, tuple] = {}

    def _plan(self, alias: str) -> tuple:
        marks = [_MARK + i for i in range(self.arity)]
        qs = self.build(*marks)
        compiler = qs.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = [marks.index(p) if type(p) is int and p in marks else None for p in params]
        if sorted({s for s in slots if s is not None}) != list(range(self.arity)):
            raise ValueError(f"an argument of {self.build!r} does not reach the statement as a parameter")
        converters = compiler.get_converters([s[0] for s in compiler.select[:compiler.col_count]])
        models_out = qs._iterable_class is ModelIterable
        decode = None
        if models_out:
            info = compiler.klass_info
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            names = [f[0].target.attname for f in compiler.select[start:end]]
            decode = (info["model"], start, end, names, get_related_populators(info, compiler.select, alias),
                      tuple(compiler.annotation_col_map.items()))
        plan = (sql, tuple(params), slots, compiler, converters, decode)
        self._plans[alias] = plan
        return plan

    def rows(self, *args) -> list:
        alias = DEFAULT_DB_ALIAS
        plan = self._plans.get(alias) or self._plan(alias)
        sql, params, slots, compiler, converters, decode = plan
        values = [p if s is None else args[s] for p, s in zip(params, slots, strict=True)]
        with prepared_cursor() as cur:
            cur.execute(sql, values)
            rows = cur.fetchall()
        if converters:
            rows = list(compiler.apply_converters(rows, converters))
        if decode is None:
            return [tuple(r) for r in rows]
        model, start, end, names, populators, annotations = decode
        out = []
        for row in rows:
            obj = model.from_db(alias, names, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, pos in annotations:
                setattr(obj, name, row[pos])
            out.append(obj)
        return out

    def first(self, *args):
        """The first row, or None."""
        rows = self.rows(*args)
        return rows[0] if rows else None


_UPDATES: dict[tuple, tuple[str, list]] = {}
MAX_INSERT_PARAMS = 10_000  # per multi-row INSERT (PostgreSQL takes 65,535, SQLite 32,766)
_INSERTS: dict[tuple, tuple[str, bool]] = {}


def row_update(obj: Model, fields: Sequence[str], *, inserts: Sequence[Model] = ()) -> None:
    """`obj.save(update_fields=fields)` without building the UPDATE each time (auto_now fields named in
    `fields` are stamped, as save does). Raises DatabaseError when the row is gone, as save does.

    `inserts`: new rows (automatic keys, not read back) written by the same statement on PostgreSQL,
    as data-modifying WITH clauses before the UPDATE: a step's round and events cost no round trip of
    their own. Elsewhere they are inserted first, a statement per model.
    """
    db = connections[DEFAULT_DB_ALIAS]
    groups = _insert_groups(inserts)
    if not fields:  # nothing to update (the row is not checked): only the inserts
        for group in groups:
            rows_insert(group)
        return
    joined = bool(groups) and db.vendor == "postgresql"
    key = (type(obj), tuple(fields), db.vendor, tuple((type(g[0]), len(g)) for g in groups) if joined else ())
    plan = _UPDATES.get(key)
    if plan is None:
        meta = obj._meta
        targets = [meta.get_field(name) for name in fields]
        qn = db.ops.quote_name
        sql = (f"UPDATE {qn(meta.db_table)} SET " + ", ".join(f"{qn(f.column)} = %s" for f in targets)
               + f" WHERE {qn(meta.pk.column)} = %s")
        if joined:
            sql = "WITH " + ", ".join(f"i{n} AS ({_insert_plan(db, g)[0]})" for n, g in enumerate(groups)) + " " + sql
        plan = _UPDATES[key] = (sql, targets)
    sql, targets = plan
    before = []
    for group in groups:
        if joined:
            before.extend(_insert_values(db, group))
        else:
            rows_insert(group)
    values = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in targets]
    with prepared_cursor() as cur:
        cur.execute(sql, [*before, *values, obj.pk])
        if cur.rowcount == 0:
            raise DatabaseError(f"{type(obj).__name__} {obj.pk} is gone: the update changed no row")


def _insert_groups(objs: Sequence[Model]) -> list[list[Model]]:
    """Consecutive rows of one model, each group one multi-row INSERT."""
    groups: list[list[Model]] = []
    for obj in objs:
        if groups and type(groups[-1][0]) is type(obj):
            groups[-1].append(obj)
        else:
            groups.append([obj])
    return groups


def _insert_plan(db, objs: Sequence[Model], returning: bool = False) -> tuple[str, list]:
    """The INSERT of `objs` (one model, automatic key) and the fields it writes."""
    meta = objs[0]._meta
    targets = [f for f in meta.concrete_fields if f is not meta.auto_field]
    qn = db.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(targets)) + ")"
    sql = (f"INSERT INTO {qn(meta.db_table)} (" + ", ".join(qn(f.column) for f in targets) + ") VALUES "
           + ", ".join([row] * len(objs)) + (f" RETURNING {qn(meta.pk.column)}" if returning else ""))
    return sql, targets


def _insert_values(db, objs: Sequence[Model]) -> list:
    targets = [f for f in objs[0]._meta.concrete_fields if f is not objs[0]._meta.auto_field]
    values = [f.get_db_prep_save(f.pre_save(obj, True), db) for obj in objs for f in targets]
    for obj in objs:
        obj._state.adding, obj._state.db = False, DEFAULT_DB_ALIAS
    return values


def row_insert(obj: Model) -> Model:
    """`obj.save(force_insert=True)` for a model with an automatic primary key, the INSERT built once
    per model; sets the new key on `obj`."""
    return rows_insert([obj])[0]


def rows_insert(objs: Sequence[Model]) -> list[Model]:
    """`bulk_create(objs)` for rows of one model with an automatic primary key: one multi-row INSERT,
    built once per model and row count, that sets each new key (RETURNING, on PostgreSQL and SQLite)."""
    if not objs:
        return []
    per = max(1, MAX_INSERT_PARAMS // len(objs[0]._meta.concrete_fields))
    if len(objs) > per:  # within the databases' limits on parameters per statement
        return [obj for start in range(0, len(objs), per) for obj in rows_insert(objs[start:start + per])]
    db = connections[DEFAULT_DB_ALIAS]
    key = (type(objs[0]), len(objs), db.vendor)
    plan = _INSERTS.get(key)
    if plan is None:
        returning = db.features.can_return_columns_from_insert
        if len(objs) > 1 and not db.features.can_return_rows_from_bulk_insert:
            raise DatabaseError(f"{db.vendor} cannot return the keys of a multi-row INSERT")
        sql, _ = _insert_plan(db, objs, returning)
        plan = _INSERTS[key] = (sql, returning)
    sql, returning = plan
    values = _insert_values(db, objs)
    with prepared_cursor() as cur:
        cur.execute(sql, values)
        keys = [r[0] for r in cur.fetchall()] if returning else [cur.lastrowid]
    for obj, pk in zip(objs, keys, strict=True):
        obj.pk = pk
    return list(objs)
