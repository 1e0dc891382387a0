"""The bench's bare Celery chain: a no-op task that re-sends itself, the floor any orchestration
hop is compared with (`bench_operations.py` starts the worker with `--include tests.bench.celery_noop`)."""
from __future__ import annotations

from celery import shared_task

DONE_KEY = "skyport-bench:noop:{run}:done"


@shared_task(name="bench.noop_hop", acks_late=True, ignore_result=True)
def noop_hop(run: str, remaining: int) -> None:
    """One hop: publish the next one (as a step publishes its successor), or mark the chain done."""
    if remaining > 0:
        noop_hop.apply_async((run, remaining - 1), countdown=0)
        return
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.incr(DONE_KEY.format(run=run))
        client.expire(DONE_KEY.format(run=run), 3600)
    finally:
        client.close()
