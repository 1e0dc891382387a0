"""The worker keeps its database connection across tasks as Django keeps it across requests, and does not
health-check it again (a `SELECT 1` round trip) when the previous task used it under a second ago
(PostgreSQL: the SQLite connection is not kept between tasks, CONN_MAX_AGE 0)."""
from __future__ import annotations

import pytest
from django.db import connections

from portal import celery as worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


class _Task:
    class request:  # noqa: N801 - shaped like a Celery task's request
        is_eager = False


def test_the_health_check_runs_after_a_pause_not_between_back_to_back_tasks(monkeypatch):
    conn = connections["default"]
    checks: list[int] = []
    usable = type(conn).is_usable
    monkeypatch.setattr(type(conn), "is_usable", lambda self: checks.append(1) or usable(self))

    def task() -> None:
        worker._connections_before(task=_Task)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        worker._connections_after(task=_Task)

    task()
    checks.clear()
    monkeypatch.setattr(worker, "_last_task_end", [worker.time.monotonic() - 5])  # the worker sat idle
    task()
    assert len(checks) == 1
    for _ in range(3):  # back to back
        task()
    assert len(checks) == 1
    conn.errors_occurred = True  # a task's statement failed: the next one checks, whatever the pause
    task()
    assert len(checks) == 2
