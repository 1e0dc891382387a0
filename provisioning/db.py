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

from collections.abc import Sequence

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

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
