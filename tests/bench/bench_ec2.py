"""Benchmark: the EC2 API's launch -> describe -> terminate loop through boto3, Skyport against moto.

The same loop (run_instances 1 -> describe_instances by id -> terminate_instances), 8 client threads
with a boto3 client each, for `--seconds`, against:
- Skyport: gunicorn (2 processes x 4 threads) on a scratch PostgreSQL database with the demo fleet, a
  Celery worker on Redis driving the real pipeline (real-time simulated durations), every request
  SigV4-verified, rate-counted and tenancy-scoped (each thread signs with its own access key of one user);
- moto's server (`moto[server]`, installed by this script into var/bench/moto-venv, never a runtime
  dependency of Skyport), started here in the same run.

Records under "ec2" in var/bench/results.json: skyport_loops_per_s, moto_loops_per_s, ratio, threads,
plus per-side errors, CPU per loop (Skyport's web tier, worker and PostgreSQL backends during the window, the
worker and backends again once the pipeline settled; moto's server; all from /proc), the load
average at the start, and how long Skyport's pipeline took to settle afterwards (every instance terminated,
every claim released: the work was really done, not only acknowledged). And the client's own CPU per loop
(this process's boto3 threads: `client_cpu_ms_per_loop`, its user part `client_user_cpu_ms_per_loop`), with
the ceilings it leaves whatever the server: `client_ceiling_loops_per_s` = cores / client CPU per loop (a server
that cost nothing), `client_gil_ceiling_loops_per_s` = 1 s / client user CPU per loop (one Python process runs
its threads' Python one at a time), each also as a ratio to moto.

Run: `python tests/bench/bench_ec2.py [--seconds S --threads N --keep]`. Needs PostgreSQL (DATABASE_URL if it
is postgres://, else postgres://postgres@127.0.0.1:5432/postgres) and Redis (found or started as `make run` does).
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from tests.bench.bench_placement import admin_url, drop_database, recreate_database, with_database  # noqa: E402

BENCH_DB = os.environ.get("SKYPORT_BENCH_EC2_DB", "skyport_bench_ec2")
MOTO_VERSION = "5.2.5"
MOTO_VENV = ROOT / "var" / "bench" / "moto-venv"
REGION = "us-east-1"
MOTO_AMI = "ami-12c6146b"  # an image moto ships


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} while starting")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url} within {timeout:g} s")


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


def database_cpu(dbname: str, seen: dict[int, float]) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving `dbname` (Linux /proc), as a running
    total: `seen` keeps each backend's last reading, so one that ended (its web process stopped) still
    counts. The web tier and the worker keep their connections for CONN_MAX_AGE, so few come and go."""
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
            if len(args) < 4 or args[0] != "postgres:" or dbname not in args:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[int(proc.name)] = (int(fields[11]) + int(fields[12])) / tick
    return sum(seen.values())


def ensure_moto() -> Path:
    """moto's server in a scratch venv (created once, reused while the version matches)."""
    server = MOTO_VENV / "bin" / "moto_server"
    stamp = MOTO_VENV / f".moto-{MOTO_VERSION}"
    if not stamp.exists():
        print(f"installing moto[server]=={MOTO_VERSION} into {MOTO_VENV} (benchmark only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MOTO_VENV)], check=True)
        with open(MOTO_VENV / "pip-install.log", "wb") as log:
            subprocess.run([str(MOTO_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", f"moto[server]=={MOTO_VERSION}"], check=True, stdout=log,
                           stderr=subprocess.STDOUT)
        stamp.touch()
    return server


def loops(endpoint: str, credentials: list[tuple[str, str]], ami: str, instance_type: str, seconds: float) -> dict:
    """len(credentials) threads run the loop for `seconds`; completed loops per second over the window."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=4, read_timeout=60)
    clients = [boto3.session.Session().client("ec2", endpoint_url=endpoint, region_name=REGION,
                                                aws_access_key_id=k, aws_secret_access_key=s, config=config)
               for k, s in credentials]
    done = [0] * len(clients)
    ran = [0] * len(clients)  # every loop run after the start, the last one past the window's end too
    errors: list[str] = []
    barrier = threading.Barrier(len(clients) + 1)
    window: dict[str, float] = {}

    def one(client) -> None:
        iid = client.run_instances(ImageId=ami, InstanceType=instance_type, MinCount=1, MaxCount=1)[
            "Instances"][0]["InstanceId"]
        client.describe_instances(InstanceIds=[iid])
        client.terminate_instances(InstanceIds=[iid])

    def worker(index: int) -> None:
        client = clients[index]
        try:
            one(client)  # warm-up: connection, first-call caches
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"warm-up: {type(exc).__name__}: {exc}")
        barrier.wait()
        while time.perf_counter() < window["end"]:
            try:
                one(client)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                ran[index] += 1
            if time.perf_counter() <= window["end"]:
                done[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    window["end"] = float("inf")
    time.sleep(0)  # let the warm-ups start
    while barrier.n_waiting < len(clients):
        time.sleep(0.05)
        if not any(t.is_alive() for t in threads):
            break
    window["start"] = time.perf_counter()
    window["end"] = window["start"] + seconds
    cpu0 = os.times()
    barrier.wait()
    for t in threads:
        t.join()
    # The client's own CPU: this process does nothing else meanwhile (the main thread waits in join).
    # User time is (nearly all) Python under the GIL, so one process runs at most 1 s of it per second.
    cpu1, n = os.times(), max(sum(ran), 1)
    user = (cpu1.user - cpu0.user) / n
    elapsed = seconds
    return {"loops": sum(done), "loops_per_s": sum(done) / elapsed, "errors": len(errors),
            "first_errors": errors[:3], "client_cpu_s_per_loop": user + (cpu1.system - cpu0.system) / n,
            "client_user_s_per_loop": user}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--web-processes", type=int, default=2)
    ap.add_argument("--web-threads", type=int, default=4)
    ap.add_argument("--worker-nice", type=int, default=0,
                    help="CPU niceness of the Celery worker: its steps wait behind API requests, then catch up")
    ap.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--skip-moto", action="store_true", help="measure Skyport only (no ratio)")
    ap.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = ap.parse_args(argv)

    admin = admin_url()
    if args.database == "postgres":
        why = recreate_database(admin, BENCH_DB)
        if why:
            print(f"bench_ec2: needs PostgreSQL, and none answers at {admin} ({why}).", file=sys.stderr)
            return 2
        db_url = with_database(admin, BENCH_DB)
    else:  # `make run`'s default: a SQLite file, WAL, one writer at a time
        sqlite = ROOT / "var" / "bench" / f"{BENCH_DB}.sqlite3"
        sqlite.parent.mkdir(parents=True, exist_ok=True)
        for path in sqlite.parent.glob(f"{BENCH_DB}.sqlite3*"):
            path.unlink()
        db_url = f"sqlite:///{sqlite}"
    os.environ["DATABASE_URL"] = db_url
    # The access keys' secrets are sealed with a key derived from this; the server must unseal them.
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from provisioning.fixtures.demo import demo_seed
    from provisioning.models import Instance
    from provisioning.selectors import appliance_get
    from provisioning.services.access_keys import access_key_create
    from provisioning.services.claims import ledger_audit
    from provisioning.services.quotas import quota_set
    from tests.bench.results import record
    from tools.runtime import ensure_redis

    var = Path(settings.VAR_DIR) / "bench"
    var.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    try:
        call_command("migrate", verbosity=0)
        demo_seed(with_users=False)
        user = get_user_model().objects.create_user("bench-ec2", password=secrets.token_urlsafe(16))
        quota_set(user=user, instances=100_000, vcpus=1_000_000, memory_mib=1_000_000_000)
        keys = [access_key_create(user=user, description=f"bench thread {i}") for i in range(args.threads)]
        credentials = [(k.access_key.access_key_id, k.secret_access_key) for k in keys]
        ami = appliance_get(ref="debian-12").public_id
        from django.db import connections

        connections.close_all()

        redis_url = ensure_redis(Path(settings.VAR_DIR), url=os.environ.get("REDIS_URL") or settings.REDIS_URL)
        queue = f"skyport-bench-ec2-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "SKYPORT_CELERY_QUEUE": queue,
               "SKYPORT_SIM_SPEED": "1.0", "DJANGO_DEBUG": "0",
               "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
               # Counted per access key as always, set high: this measures the API, not the limit.
               "SKYPORT_API_RATE": "1000000/min", "PYTHONUNBUFFERED": "1"}
        env.pop("SKYPORT_TESTING", None)
        procs.append(start(["nice", "-n", str(args.worker_nice), sys.executable, "-m", "celery", "-A", "portal",
                            "worker", "-Q", queue, "-c", "1", "-P", "prefork", "-l", "warning", "--without-gossip",
                            "--without-mingle"], env, var / "ec2-celery.log"))
        port = free_port()
        web = start([sys.executable, "-m", "gunicorn", "portal.wsgi", "-b", f"127.0.0.1:{port}",
                     "-w", str(args.web_processes), "-k", "gthread", "--threads", str(args.web_threads),
                     "--log-level", "warning"], env, var / "ec2-gunicorn.log")
        procs.append(web)
        wait_http(f"http://127.0.0.1:{port}/ec2/", web)
        print(f"skyport: gunicorn {args.web_processes}x{args.web_threads} on :{port}, 1 Celery worker, "
              f"{args.threads} threads x {args.seconds:g} s ...", flush=True)
        cpu0 = {p.pid: group_cpu_s(p.pid) for p in procs}
        db_seen: dict[int, float] = {}
        db_cpu0 = database_cpu(BENCH_DB, db_seen) if args.database == "postgres" else 0.0
        load0 = os.getloadavg()[0]
        ours = loops(f"http://127.0.0.1:{port}/ec2/", credentials, ami, "t3.nano", args.seconds)
        worker_pid = procs[0].pid
        web_cpu = (group_cpu_s(web.pid) - cpu0[web.pid]) / max(ours["loops"], 1) * 1000
        worker_cpu = (group_cpu_s(worker_pid) - cpu0[worker_pid]) / max(ours["loops"], 1) * 1000
        db_cpu = ((database_cpu(BENCH_DB, db_seen) - db_cpu0) / max(ours["loops"], 1) * 1000
                  if args.database == "postgres" else None)
        db_text = f"{db_cpu:.1f} ms" if db_cpu is not None else "not counted (SQLite runs in the web tier)"
        print(f"skyport: web tier {web_cpu:.1f} ms CPU per loop, Celery worker {worker_cpu:.1f} ms, PostgreSQL "
              f"backends {db_text} (the worker's steps may still be catching up); load average {load0:.1f} at "
              f"the start", flush=True)
        print(f"skyport: {ours['loops_per_s']:.1f} loops/s ({ours['loops']} loops, {ours['errors']} errors "
              f"{ours['first_errors']})", flush=True)
        client_cpu, client_user = ours["client_cpu_s_per_loop"] * 1000, ours["client_user_s_per_loop"] * 1000
        cores = os.cpu_count() or 1
        ceiling = cores * 1000 / client_cpu if client_cpu else None
        gil_ceiling = 1000 / client_user if client_user else None
        print(f"client (this process's {args.threads} boto3 threads): {client_cpu:.1f} ms CPU per loop "
              f"({client_user:.1f} ms of it user time, under the GIL); with a server that cost nothing, {cores} "
              f"cores allow at most {ceiling:.0f} loops/s, and this one client process at most {gil_ceiling:.0f}",
              flush=True)
        stop(web)

        if args.skip_moto:
            return 0
        server = ensure_moto()
        moto_port = free_port()
        moto = start([str(server), "-H", "127.0.0.1", "-p", str(moto_port)], {**os.environ}, var / "ec2-moto.log")
        procs.append(moto)
        wait_http(f"http://127.0.0.1:{moto_port}/", moto)
        print(f"moto {MOTO_VERSION}: {args.threads} threads x {args.seconds:g} s ...", flush=True)
        moto_cpu0 = group_cpu_s(moto.pid)
        theirs = loops(f"http://127.0.0.1:{moto_port}/", [("testing", "testing")] * args.threads, MOTO_AMI,
                       "t3.nano", args.seconds)
        moto_cpu = (group_cpu_s(moto.pid) - moto_cpu0) / max(theirs["loops"], 1) * 1000
        print(f"moto: {moto_cpu:.1f} ms server CPU per loop; client {theirs['client_cpu_s_per_loop'] * 1000:.1f} ms",
              flush=True)
        print(f"moto: {theirs['loops_per_s']:.1f} loops/s ({theirs['loops']} loops, {theirs['errors']} errors "
              f"{theirs['first_errors']})", flush=True)
        stop(moto)

        t0 = time.monotonic()
        busy = ("pending", "shutting-down", "stopping")
        while Instance.objects.filter(owner=user, state__in=busy).exists() and time.monotonic() - t0 < 600:
            time.sleep(1)
        settle_s = time.monotonic() - t0
        left = Instance.objects.filter(owner=user, state__in=busy).count()
        # The worker's and the database's CPU until the pipeline settled: the whole cost of the run's loops
        # (the bench's own polling above adds a few queries; the moto phase uses neither).
        worker_settled = (group_cpu_s(worker_pid) - cpu0[worker_pid]) / max(ours["loops"], 1) * 1000
        db_settled = ((database_cpu(BENCH_DB, db_seen) - db_cpu0) / max(ours["loops"], 1) * 1000
                      if args.database == "postgres" else None)
        print(f"skyport until settled: Celery worker {worker_settled:.1f} ms CPU per loop"
              + (f", PostgreSQL backends {db_settled:.1f} ms" if db_settled is not None else ""), flush=True)
        problems = ledger_audit()
        print(f"skyport pipeline settled {settle_s:.0f} s after the run ({left} instances still busy); ledger "
              + ("exact" if not problems else f"{len(problems)} problems"))
        ratio = ours["loops_per_s"] / theirs["loops_per_s"] if theirs["loops_per_s"] else None
        record("ec2", {
            "skyport_loops_per_s": round(ours["loops_per_s"], 1), "moto_loops_per_s": round(theirs["loops_per_s"], 1),
            "ratio": round(ratio, 1) if ratio else None, "threads": args.threads, "seconds": args.seconds,
            "skyport_errors": ours["errors"], "moto_errors": theirs["errors"], "moto_version": MOTO_VERSION,
            "skyport_web": f"gunicorn {args.web_processes} processes x {args.web_threads} threads",
            "skyport_settle_s": round(settle_s, 1), "skyport_busy_after_settle": left,
            "ledger_exact": not problems, "cpus": os.cpu_count(), "database": args.database,
            "skyport_web_cpu_ms_per_loop": round(web_cpu, 1), "skyport_worker_cpu_ms_per_loop": round(worker_cpu, 1),
            "skyport_database_cpu_ms_per_loop": round(db_cpu, 1) if db_cpu is not None else None,
            "skyport_worker_cpu_ms_per_loop_settled": round(worker_settled, 1),
            "skyport_database_cpu_ms_per_loop_settled": round(db_settled, 1) if db_settled is not None else None,
            "moto_server_cpu_ms_per_loop": round(moto_cpu, 1), "load_average_at_start": round(load0, 1),
            "client_cpu_ms_per_loop": round(client_cpu, 2),
            "moto_client_cpu_ms_per_loop": round(theirs["client_cpu_s_per_loop"] * 1000, 2),
            "client_ceiling_loops_per_s": round(ceiling, 1) if ceiling else None,
            "client_ceiling_ratio_to_moto": round(ceiling / theirs["loops_per_s"], 1)
            if ceiling and theirs["loops_per_s"] else None,
            "client_user_cpu_ms_per_loop": round(client_user, 2),
            "client_gil_ceiling_loops_per_s": round(gil_ceiling, 1) if gil_ceiling else None,
            "client_gil_ceiling_ratio_to_moto": round(gil_ceiling / theirs["loops_per_s"], 1)
            if gil_ceiling and theirs["loops_per_s"] else None,
        })
        print(f"ratio: {ratio:.1f}x" if ratio else "ratio: n/a")
        if ceiling and theirs["loops_per_s"]:
            print(f"client ceiling: {ceiling:.0f} loops/s = {ceiling / theirs['loops_per_s']:.1f}x moto on "
                  f"{cores} cores with a free server, {gil_ceiling:.0f} loops/s = "
                  f"{gil_ceiling / theirs['loops_per_s']:.1f}x in one client process (the goal is 10x)")
        return 0 if not problems and not left else 1
    finally:
        for proc in procs:
            stop(proc)
        if not args.keep and args.database == "postgres":
            drop_database(admin, BENCH_DB)


if __name__ == "__main__":
    sys.exit(main())
