"""The bench's bare Celery chains: a no-op task that re-sends itself, the floor any orchestration hop is
compared with, and a hop that does the least a step's transaction does (lock one row by primary key,
commit), the floor of any hop that keeps its state in the database (`bench_operations.py` starts the
worker with `--include tests.bench.celery_noop`)."""
from __future__ import annotations

import time

from celery import shared_task

DONE_KEY = "skyport-bench:noop:{run}:done"
END_KEY = "skyport-bench:noop:{run}:ends"  # each chain's end, wall-clock seconds (the bench takes the last)


@shared_task(name="bench.noop_hop", acks_late=True, ignore_result=True)
def noop_hop(run: str, remaining: int) -> None:
    """One hop: publish the next one (as a step publishes its successor), or mark the chain done."""
    if remaining > 0:
        noop_hop.apply_async((run, remaining - 1), countdown=0)
        return
    _done(run)


@shared_task(name="bench.db_hop", acks_late=True, ignore_result=True)
def db_hop(run: str, remaining: int, migration_id: int) -> None:
    """One hop of the database floor: the step engine's lock of its row, and the commit, nothing else."""
    from django.db import transaction

    from provisioning.models import Migration

    with transaction.atomic():
        list(Migration.objects.select_for_update().filter(pk=migration_id).values_list("step_seq"))
    if remaining > 0:
        db_hop.apply_async((run, remaining - 1, migration_id), countdown=0)
        return
    _done(run)


def _done(run: str) -> None:
    import redis
    from django.conf import settings

    ended = time.time()
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(END_KEY.format(run=run), ended)
        client.incr(DONE_KEY.format(run=run))
        client.expire(DONE_KEY.format(run=run), 3600)
        client.expire(END_KEY.format(run=run), 3600)
    finally:
        client.close()
