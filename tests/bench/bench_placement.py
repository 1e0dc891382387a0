"""Benchmark: placement on a 10,000-host / 100,000-instance fleet on PostgreSQL.

Measures (and records under "placement" in var/bench/results.json):
- placement decision latency p50/p99 over >= 1000 decisions (`candidates`: filters, weighers,
  mode check; goal p99 < 10 ms),
- `placements_per_s_8_clients`: sustained placements per second with 8 concurrent requesters
  (processes, one connection and one user each; goal >= 500/s on 2 cores). A placement is
  `instance_place`, the one function every request places an instance with, in its own
  transaction: the ranked candidates (one query), the atomic claim on the best host that still has
  room (one statement), host, mode and address recorded (one statement),
- `requests_per_s_8_clients`: the same 8 requesters running whole `reservation_create`
  transactions instead (quota row locked and usage counted, reservation and instance rows, the
  placement, security-group links, events). Publishing the pipeline's first step to the broker
  is replaced by a counter: no worker runs here,
- queries per decision, per placement and per request transaction (constant, whatever the fleet
  size: measured on a 10-host fleet and on the full one).

Each concurrent figure is the median of `--repeats` runs (3) of `--seconds` (10 s) each, with its range.

Run: `python tests/bench/bench_placement.py [--hosts N --instances N --seconds S --repeats R --keep]`.
Needs PostgreSQL: DATABASE_URL if it is postgres://, else postgres://postgres@127.0.0.1:5432/postgres;
creates (and drops) its own database `skyport_bench` (SKYPORT_BENCH_DB names another).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
BENCH_DB = os.environ.get("SKYPORT_BENCH_DB", "skyport_bench")
REQUEST_TYPES = ("t3.micro", "t3.small", "t3.medium", "m5.large")


def admin_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_ADMIN_URL


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def recreate_database(url: str, name: str) -> str | None:
    """Drop and create `name` through `url`; the reason in words when PostgreSQL does not answer."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    return None


def drop_database(url: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------- measurements
def stub_dispatch() -> list:
    """No worker here: count the pipeline messages instead of publishing them to a broker."""
    from provisioning.pipeline import engine

    sent: list = []
    engine.step_enqueue = lambda *, kind, object_id, seq, countdown=0.0: sent.append(object_id)
    return sent


def request_mix(rnd: random.Random, n: int) -> list:
    from provisioning.models import Appliance, Host, InstanceType
    from provisioning.placement import PlacementRequest

    apps = list(Appliance.objects.all())
    types = list(InstanceType.objects.filter(name__in=REQUEST_TYPES))
    zones = [""] + sorted(set(Host.objects.values_list("availability_zone", flat=True).distinct()))
    out = []
    for _ in range(n):
        app = rnd.choice(apps)
        fitting = [t for t in types if t.vcpus >= app.min_vcpus and t.memory_mib >= app.min_memory_mib
                   and t.disk_gib >= app.min_disk_gib] or types
        out.append(PlacementRequest(appliance=app, instance_type=rnd.choice(fitting),
                                    availability_zone=rnd.choice(zones)))
    return out


def decision_latency(n: int, seed: int = 7) -> dict:
    """p50 / p99 (ms) of `candidates` over n mixed requests, steady state: each request shape
    (appliance x type x zone) is seen once first, as a long-running scheduler process has (its SQL
    is compiled once per shape); that first, cold call is reported apart."""
    from provisioning.placement import candidates

    reqs = request_mix(random.Random(seed), n)
    shapes: dict = {}
    for req in reqs:
        shapes.setdefault((req.appliance.pk, req.instance_type.pk, req.availability_zone), req)
    cold = []
    for req in shapes.values():
        t0 = time.perf_counter()
        candidates(req)
        cold.append((time.perf_counter() - t0) * 1000)
    times, empty = [], 0
    for req in reqs:
        t0 = time.perf_counter()
        found = candidates(req)
        times.append((time.perf_counter() - t0) * 1000)
        empty += not found
    return {"p50": percentile(times, 0.50), "p99": percentile(times, 0.99), "empty": empty,
            "shapes": len(shapes), "cold_p50": percentile(cold, 0.50)}


def query_counts(user) -> tuple[int, int, int]:
    """Queries one placement decision, one placement and one whole request transaction run (the
    last two rolled back)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from provisioning.models import Instance, Reservation
    from provisioning.placement import PlacementRequest, candidates
    from provisioning.services.launch import instance_place, launch_validate, reservation_create

    spec = launch_validate(user=user, appliance="ubuntu-lamp", instance_type="t3.small")
    reservation_create(user=user, spec=spec)  # the user's first request also creates its quota row and group
    req = PlacementRequest(appliance=spec.appliance, instance_type=spec.instance_type)
    candidates(req)
    with CaptureQueriesContext(connection) as decision:
        candidates(req)

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            inst = Instance.objects.create(owner=user, reservation=Reservation.objects.create(owner=user),
                                           appliance=spec.appliance, instance_type=spec.instance_type)
            with CaptureQueriesContext(connection) as placement:
                assert instance_place(inst, req)
            raise Rollback
    except Rollback:
        pass
    with CaptureQueriesContext(connection) as whole:
        try:
            with transaction.atomic():
                reservation_create(user=user, spec=spec)
                raise Rollback
        except Rollback:
            pass
    return len(decision.captured_queries), len(placement.captured_queries), len(whole.captured_queries)


def _client(index: int, seconds: float, start_at: float, out, mode: str, tag: str) -> None:
    """One requester process until the time is up: placements (mode "place": `instance_place` on
    instances recorded beforehand, one transaction each: the ranked candidates, the atomic claim,
    host, mode and address written), or whole requests (mode "request": `reservation_create`,
    which also checks the quota and records the reservation, the instance, its groups and events)."""
    import django
    from django.contrib.auth import get_user_model
    from django.db import connections, transaction

    django.setup()
    connections.close_all()  # never share the parent's socket
    stub_dispatch()
    from provisioning.exceptions import InsufficientCapacity
    from provisioning.models import Instance, Reservation
    from provisioning.placement import PlacementRequest
    from provisioning.services.launch import instance_place, launch_validate, reservation_create

    try:
        user = get_user_model().objects.get(username=f"bench-{mode}-{tag}-{index}")
        rnd = random.Random(index)
        specs = [launch_validate(user=user, appliance=a, instance_type=t)
                 for a in ("ubuntu-22-04", "debian-12", "ubuntu-lamp", "centos-7-lemp", "nginx-alpine-container")
                 for t in ("t3.small", "t3.medium")]
        pool: list = []
        if mode == "place":
            res = Reservation.objects.create(owner=user)
            for k in range(int(seconds * 600)):
                spec = specs[k % len(specs)]
                pool.append(Instance(owner=user, reservation=res, appliance=spec.appliance,
                                     instance_type=spec.instance_type))
            pool = Instance.objects.bulk_create(pool, batch_size=1000)
        while time.time() < start_at:
            time.sleep(0.001)
        placed = refused = 0
        deadline = start_at + seconds
        cpu0 = time.process_time()
        while time.time() < deadline:
            if mode == "request":
                try:
                    reservation_create(user=user, spec=rnd.choice(specs))
                    placed += 1
                except InsufficientCapacity:
                    refused += 1
                continue
            inst = pool[placed + refused]
            with transaction.atomic():
                ok = instance_place(inst, PlacementRequest(appliance=inst.appliance, instance_type=inst.instance_type))
            placed += ok
            refused += not ok
        cpu = time.process_time() - cpu0
        out.put((placed, refused, time.time() - start_at, cpu, None))
    except Exception as exc:  # noqa: BLE001 - reported by the parent, which must not wait forever
        out.put((0, 0, 0.0, 0.0, f"client {index}: {type(exc).__name__}: {exc}"))
    finally:
        connections.close_all()


def throughput(clients: int, seconds: float, mode: str = "request", tag: str = "0") -> dict:
    """Placements per second with `clients` concurrent requester processes (see `_client`); `tag`
    gives each run its own users, so no run's quota usage carries the instances of another."""
    import multiprocessing

    from django.contrib.auth import get_user_model
    from django.db import connections

    from provisioning.services.quotas import quota_set

    User = get_user_model()
    for i in range(clients):  # each mode its own users: the placers' pools do not count in the requesters' quota
        u, _ = User.objects.get_or_create(username=f"bench-{mode}-{tag}-{i}")
        quota_set(user=u, instances=10**6, vcpus=10**7, memory_mib=10**9)
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + (2.0 if mode == "request" else 8.0)  # all connected (and pools built) first
    procs = [ctx.Process(target=_client, args=(i, seconds, start_at, out, mode, tag)) for i in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 180) for _ in procs]
    for p in procs:
        p.join()
    errors = [r[4] for r in results if r[4]]
    if errors:
        raise RuntimeError("requester failed: " + "; ".join(errors))
    placed = sum(r[0] for r in results)
    elapsed = max(r[2] for r in results)
    return {"per_s": placed / elapsed, "placed": placed, "refused": sum(r[1] for r in results),
            "client_cpu_ms": 1000 * sum(r[3] for r in results) / max(1, placed)}


def repeated(runs: int, clients: int, seconds: float, mode: str) -> dict:
    """`throughput` `runs` times (the machine is shared and noisy): the median rate, its range, and
    the median client CPU per operation."""
    results = [throughput(clients, seconds, mode=mode, tag=str(k)) for k in range(runs)]
    rates = sorted(r["per_s"] for r in results)
    return {"per_s": statistics.median(rates), "min": rates[0], "max": rates[-1], "runs": runs,
            "placed": sum(r["placed"] for r in results), "refused": sum(r["refused"] for r in results),
            "client_cpu_ms": statistics.median(r["client_cpu_ms"] for r in results)}


def _rate(r: dict) -> str:
    return f"{r['per_s']:.0f}/s" + (f" (median of {r['runs']}: {r['min']:.0f}-{r['max']:.0f})" if r["runs"] > 1 else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--instances", type=int, default=100_000)
    ap.add_argument("--decisions", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each concurrent run")
    ap.add_argument("--repeats", type=int, default=3, help="concurrent runs per mode (the median is recorded)")
    ap.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = ap.parse_args(argv)

    admin = admin_url()
    why = recreate_database(admin, BENCH_DB)
    if why:
        print(f"bench_placement: needs PostgreSQL, and none answers at {admin} ({why}).\n"
              "Start one or set DATABASE_URL=postgres://user@host:port/db.", file=sys.stderr)
        return 2
    os.environ["DATABASE_URL"] = with_database(admin, BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["SKYPORT_SIM_SPEED"] = "0"
    os.environ.setdefault("SKYPORT_TESTING", "1")  # a scratch database: the development secret key will do
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from provisioning.fixtures.fleet import fleet_build
    from provisioning.services.claims import ledger_audit
    from tests.bench.results import record

    try:
        call_command("migrate", verbosity=0)
        stub_dispatch()
        small = fleet_build(hosts=10, instances=50, prefix="small")
        probe_user, _ = get_user_model().objects.get_or_create(username="bench-probe")
        q_small = query_counts(probe_user)
        t0 = time.perf_counter()
        fleet = fleet_build(hosts=args.hosts, instances=args.instances, prefix="fl")
        build_s = time.perf_counter() - t0  # including the commit
        print(f"fleet: {fleet.hosts} hosts, {fleet.instances} instances built in {build_s:.1f} s "
              f"(+{small.hosts} hosts of a small fleet)")
        q_big = query_counts(probe_user)
        print(f"queries: {q_big[0]} per placement decision, {q_big[1]} per placement, {q_big[2]} per request "
              f"transaction ({q_small[0]}, {q_small[1]} and {q_small[2]} on a {small.hosts}-host fleet)")
        lat = decision_latency(args.decisions)
        p50, p99 = lat["p50"], lat["p99"]
        print(f"decision latency over {args.decisions} mixed requests: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
              f" ({lat['empty']} found no host; first call of each of {lat['shapes']} request shapes, which "
              f"compiles its SQL: p50 {lat['cold_p50']:.2f} ms)")
        core = repeated(args.repeats, args.clients, args.seconds, mode="place")
        rate = core["per_s"]
        print(f"{args.clients} concurrent requesters placing (instance_place, one transaction each: ranked "
              f"candidates, atomic claim, host and address recorded): {_rate(core)} placements "
              f"({core['placed']} placed, {core['refused']} refused in {args.repeats} x {args.seconds:g} s; "
              f"{core['client_cpu_ms']:.2f} ms client CPU each)")
        whole = repeated(args.repeats, args.clients, args.seconds, mode="request")
        print(f"{args.clients} concurrent requesters launching (whole reservation_create transactions: quota, "
              f"records, placement, links, events): {_rate(whole)} requests ({whole['placed']} placed, "
              f"{whole['refused']} refused in {args.repeats} x {args.seconds:g} s; "
              f"{whole['client_cpu_ms']:.2f} ms client CPU each)")
        problems = ledger_audit()
        print("ledger: exact" if not problems else f"ledger: {len(problems)} problems, e.g. {problems[:3]}")
        record("placement", {
            "hosts": fleet.hosts + small.hosts, "instances": fleet.instances + small.instances,
            "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
            f"placements_per_s_{args.clients}_clients": round(rate, 1),
            f"placements_per_s_{args.clients}_clients_range": [round(core["min"], 1), round(core["max"], 1)],
            f"requests_per_s_{args.clients}_clients_range": [round(whole["min"], 1), round(whole["max"], 1)],
            "concurrent_runs": args.repeats, "seconds_per_run": args.seconds,
            "queries_per_placement": q_big[1], "queries_per_decision": q_big[0], "queries_per_request": q_big[2],
            f"requests_per_s_{args.clients}_clients": round(whole["per_s"], 1),
            "client_cpu_ms_per_placement": round(core["client_cpu_ms"], 2),
            "client_cpu_ms_per_request": round(whole["client_cpu_ms"], 2),
            "queries_per_placement_10_hosts": q_small[1], "queries_per_decision_10_hosts": q_small[0],
            "queries_per_request_10_hosts": q_small[2], "decisions": args.decisions,
            "first_call_per_shape_p50_ms": round(lat["cold_p50"], 3),
            "fleet_build_s": round(build_s, 2), "cpus": os.cpu_count(), "ledger_exact": not problems,
        })
        return 0 if not problems else 1
    finally:
        if not args.keep:
            drop_database(admin, BENCH_DB)


if __name__ == "__main__":
    sys.exit(main())
