"""Fixtures for the cloud-manager tests: hand-built fleets, and a real worker on a private broker.

`sim_worker` extends tests.fixtures_runtime without changing it: a second real Celery worker with
its own environment (SKYPORT_SIM_SPEED > 0, so steps wait on countdowns and a kill lands
mid-pipeline), its own queue and its own private redis-server, which a test may SIGKILL, restart
or flush (FLUSHDB is safe there: no other session uses that Redis).
"""
from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from provisioning.fixtures.fleet import catalog_ensure
from provisioning.pipeline import engine
from tests import factories
from tests import fixtures_runtime as fr
from tools import runtime


@pytest.fixture
def cloud_catalog(db):
    """The demo marketplace and instance types, no hosts (each test builds its own fleet)."""
    catalog_ensure()


@pytest.fixture
def host_factory(cloud_catalog):
    """`tests.factories.host_factory`, with the catalog in place."""
    return factories.host_factory


@pytest.fixture
def itype(cloud_catalog):
    """`tests.factories.instance_type_factory`: itype("x8.32", 8, 32 * 1024, 50)."""
    return factories.instance_type_factory


# --------------------------------------------------------------------------- real worker, private broker
@dataclass
class SimWorker:
    """A real worker at SIM speed `speed` consuming `queue` on the private Redis at `redis_url`."""

    process: fr.CeleryProcess
    redis_url: str
    queue: str
    speed: float

    def kill(self) -> None:
        """SIGKILL the worker's process group (pool children too), like a machine dying."""
        self.process.kill(signal.SIGKILL)

    def start(self) -> None:
        self.process.start()

    def redis(self):
        import redis

        return redis.Redis.from_url(self.redis_url)

    def restore_unacked(self) -> int:
        """Hand the messages a dead worker had reserved back to the queue (the broker's redelivery)."""
        from kombu import Connection

        restored = 0
        with Connection(self.redis_url) as conn:
            channel = conn.default_channel
            for tag, payload in channel.client.hgetall("unacked").items():
                _message, exchange, routing_key = json.loads(payload)
                if self.queue in (exchange, routing_key):
                    channel.qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag, leftmost=True)
                    restored += 1
        return restored

    def flush(self) -> None:
        """Redis restarted empty: FLUSHDB, and drop every client connection (the worker reconnects
        and, as after a broker restart, forgets the messages it had reserved)."""
        client = self.redis()
        try:
            client.flushdb()
            client.client_kill_filter(_type="normal", skipme=True)
        finally:
            client.close()

    def queued(self) -> int:
        """Messages the broker holds for this queue: waiting, or reserved by a worker (unacked)."""
        client = self.redis()
        try:
            return int(client.llen(self.queue)) + int(client.hlen("unacked"))
        finally:
            client.close()


@pytest.fixture
def sim_worker(request, celery_worker, monkeypatch) -> Iterator[SimWorker]:
    """A second real Celery worker with SKYPORT_SIM_SPEED > 0 on a private redis-server.

    `@pytest.mark.parametrize("sim_worker", [0.05], indirect=True)` sets the speed. The test
    process's dispatch (requests, the reconciler) goes to the same private broker and queue.
    """
    from celery import Celery

    speed = float(getattr(request, "param", 0.05))
    url = runtime.start_private_redis(fr._var_dir())
    queue = f"{fr.TEST_QUEUE}-cloud"
    env = fr._celery_env(url)
    env.update(SKYPORT_SIM_SPEED=str(speed), SKYPORT_CELERY_QUEUE=queue, REDIS_URL=url)
    args = ["-l", "info", "-P", "prefork", "-c", "2", "-Q", queue, "--without-gossip", "--without-mingle"]
    log_dir = fr._artifacts_dir() / "cloud"
    log_dir.mkdir(parents=True, exist_ok=True)
    proc = fr.CeleryProcess("worker", args, env, log_dir, ready=" ready.")
    proc.starts = 100  # its own log files and node names, apart from the session worker's
    app = Celery("skyport-cloud-tests", broker=url, set_as_current=False)  # shared tasks keep portal.celery
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)

    def enqueue(*, kind: str, object_id: int, seq: int, countdown: float = 0.0) -> None:
        app.send_task("provisioning.advance", args=(kind, object_id, seq), countdown=countdown, queue=queue)

    monkeypatch.setattr(engine, "step_enqueue", enqueue)
    fr._running_processes.append(proc)  # its log tail is attached to a failing test's report
    try:
        proc.start()
        yield SimWorker(proc, url, queue, speed)
    finally:
        proc.stop()
        fr._running_processes.remove(proc)
        app.close()
        runtime.stop_private_redis(url)
