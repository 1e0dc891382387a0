"""Celery app: settings from Django under the CELERY_ namespace, tasks autodiscovered."""
import os
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections, connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("skyport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A connection the previous task used less than this long ago is not health-checked again (CONN_HEALTH_CHECKS
# costs a round trip, `SELECT 1`, per task: a fifth of a pre-copy round's). A server that went away in that
# window fails the task's first statement instead; its step is re-sent by the reconciler, and the next task
# checks the connection (Django flags it after the error) and reconnects.
HEALTH_CHECK_IDLE_S = 1.0
_last_task_end = [float("-inf")]


def _eager(task) -> bool:
    return task is not None and getattr(task.request, "is_eager", False)


@task_prerun.connect
def _connections_before(task=None, **_) -> None:
    """A task is to the worker what a request is to the web: keep the connection as Django does around a
    request (CONN_MAX_AGE, dropped after an error), instead of a new server connection per task. An eager
    task (`apply()`) runs inside its caller's connection and leaves it alone, as Celery's own fixup does."""
    if _eager(task):
        return
    close_old_connections()
    if time.monotonic() - _last_task_end[0] < HEALTH_CHECK_IDLE_S:
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and not conn.errors_occurred:
                conn.health_check_done = True  # checked (or used) under HEALTH_CHECK_IDLE_S ago


@task_postrun.connect
def _connections_after(task=None, **_) -> None:
    if _eager(task):
        return
    close_old_connections()
    _last_task_end[0] = time.monotonic()
