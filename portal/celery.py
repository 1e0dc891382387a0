"""Celery app: settings from Django under the CELERY_ namespace, tasks autodiscovered."""
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("skyport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections(task=None, **_) -> None:
    """A task is to the worker what a request is to the web: keep the connection as Django does around a
    request (CONN_MAX_AGE, dropped after an error), instead of a new server connection per task. An eager
    task (`apply()`) runs inside its caller's connection and leaves it alone, as Celery's own fixup does."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()
