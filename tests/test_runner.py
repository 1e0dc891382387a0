"""The `make run` supervisor (tools/runner.py): a process that dies is restarted, the others go on.

The unit tests drive the Supervisor with `sleep` and `sh`; the live test runs `make run`'s entry
point, SIGKILLs its Celery worker, and checks that the web keeps answering, the worker is back
within seconds and a launch made meanwhile reaches `running`; then that a few slow clients holding
half-sent requests do not block the web (gunicorn's threaded workers).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.fixtures_runtime import wait_for
from tools import runner, runtime


# --------------------------------------------------------------------------- the supervisor alone
def test_procfile_lines_become_programs(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\nweb: gunicorn x -b 127.0.0.1:$PORT\n\nworker: celery -A portal worker\n")
    assert runner.parse_procfile(procfile) == [("web", "gunicorn x -b 127.0.0.1:$PORT"),
                                               ("worker", "celery -A portal worker")]
    assert [name for name, _ in runner.parse_procfile(runtime.BASE_DIR / "Procfile")] == ["web", "worker", "beat"]


def test_a_dead_process_is_restarted_with_a_log_line_and_the_others_keep_running(tmp_path):
    out = io.StringIO()
    sup = runner.Supervisor([("steady", "sleep 60"), ("flaky", "echo hello $GREETING; sleep 60")],
                            env={**os.environ, "GREETING": "world"}, cwd=tmp_path, out=out, backoff_first=0.1)
    sup.start()
    try:
        steady, flaky = sup.pid("steady"), sup.pid("flaky")
        wait_for(lambda: re.search(r"flaky +\| hello world", out.getvalue()), timeout=10)
        os.kill(flaky, signal.SIGKILL)
        wait_for(lambda: (sup.tick() or True) and sup.pid("flaky") not in (None, flaky), timeout=10,
                 message="flaky to be started again")
        log = out.getvalue()
        assert re.search(rf"runner +\| flaky \(pid {flaky}\) was killed by SIGKILL; restarting it in 0.1 s "
                         r"\(restart 1\); the other processes keep running", log), log
        assert sup.pid("steady") == steady  # untouched
        wait_for(lambda: len(re.findall(r"flaky +\| hello world", out.getvalue())) == 2, timeout=10,
                 message="the restarted process's output")
    finally:
        sup.stop(timeout=5)
    assert not sup.alive()


def test_the_back_off_doubles_while_a_process_keeps_dying_young(tmp_path):
    out = io.StringIO()
    sup = runner.Supervisor([("crashy", "exit 3")], env=dict(os.environ), cwd=tmp_path, out=out, backoff_first=0.05)
    sup.start()
    try:
        wait_for(lambda: (sup.tick() or True) and "(restart 3)" in out.getvalue(), timeout=20)
    finally:
        sup.stop(timeout=5)
    delays = [float(d) for d in re.findall(r"exited with status 3; restarting it in ([\d.]+) s", out.getvalue())]
    assert delays[:3] == [0.05, 0.1, 0.2]


def test_stop_ends_every_process_group_and_restarts_nothing(tmp_path):
    out = io.StringIO()
    # a child that ignores SIGTERM: stop() must still end it (SIGKILL after the timeout)
    sup = runner.Supervisor([("stubborn", "trap '' TERM; sleep 60 & wait"), ("plain", "sleep 60")],
                            env=dict(os.environ), cwd=tmp_path, out=out)
    sup.start()
    wait_for(lambda: runtime.descendants(sup.pid("stubborn")), timeout=10, message="the stubborn sleep")
    family = [sup.pid("stubborn"), sup.pid("plain"), *runtime.descendants(sup.pid("stubborn"))]
    sup.stop(timeout=1)
    sup.tick()
    assert not sup.alive() and "restarting" not in out.getvalue()
    wait_for(lambda: all(_gone(pid) for pid in family), timeout=10, message=f"{family} to end")


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie that nobody reaped yet (a container's init may not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


# --------------------------------------------------------------------------- make run, live
def _get(url: str, timeout: float = 10) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our loopback server
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _api(base: str, method: str, path: str, body: dict | None = None, token: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Token {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@contextlib.contextmanager
def _portal(tmp: Path, redis_url: str):
    """`python -m tools.runtime run` on its own SQLite database and queue, as `make run` starts it."""
    port = runtime.free_port()
    queue = f"skyport-runner-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "SKYPORT_TEST_DB_NAME", "DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_DEBUG",
                        "SKYPORT_DEMO", "DJANGO_SECRET_KEY", "SKYPORT_TESTING"}}
    env.update(PORT=str(port), SKYPORT_VAR_DIR=str(tmp), REDIS_URL=redis_url, SKYPORT_CELERY_QUEUE=queue,
               SKYPORT_SIM_SPEED="0")
    log_path = tmp / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tools.runtime", "run"], cwd=runtime.BASE_DIR, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def log_text() -> str:
        return log_path.read_text(errors="replace")

    def running(what):
        def check():
            if proc.poll() is not None:
                raise AssertionError(f"`runtime run` exited with {proc.returncode}:\n{log_text()[-4000:]}")
            return what()
        return check

    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(running(lambda: "Skyport is running" in log_text()), timeout=180, interval=0.5,
                 message="the banner")
        wait_for(running(lambda: " ready." in log_text()), timeout=90, message="the worker's ready line")
        yield {"base": base, "log": log_text, "running": running, "proc": proc}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        for pid in runtime.descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if runtime.redis_answers(redis_url):
            import redis

            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"*{queue}*"))
            if keys:
                client.delete(*keys)
            client.close()


@pytest.fixture(scope="module")
def make_run(tmp_path_factory, redis_url):
    with _portal(tmp_path_factory.mktemp("make-run"), redis_url) as portal:
        yield portal


def _launch_runs(base: str, token: str, running) -> None:
    """A launch through the REST API reaches `running` (web, broker and worker all work)."""
    status, launched = _api(base, "POST", "/api/v1/instances/", {"appliance": "debian-12",
                                                                 "instance_type": "t3.micro"}, token)
    assert status == 202, launched

    def state():
        return _api(base, "GET", f"/api/v1/instances/{launched['id']}/", token=token)[1].get("state")

    wait_for(running(lambda: state() == "running"), timeout=120, interval=0.5, message="the launch to run")


def _worker_pids(log: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"runner +\| worker started \(pid (\d+)\)", log)]


def test_a_killed_worker_comes_back_and_the_web_keeps_answering(make_run):
    base, log, running = make_run["base"], make_run["log"], make_run["running"]
    status, body = _api(base, "POST", "/api/v1/auth/token/", {"username": "demo", "password": "demo"})
    assert status == 200, body
    token = body["token"]
    first = _worker_pids(log())[-1]

    os.kill(first, signal.SIGKILL)
    # a launch made while the worker is down is accepted ...
    status, launched = _api(base, "POST", "/api/v1/instances/", {"appliance": "debian-12",
                                                                 "instance_type": "t3.micro"}, token)
    assert status == 202, launched
    # ... the web keeps answering ...
    for _ in range(5):
        assert _get(base + "/") == 200
    # ... the runner says what happened and starts the worker again ...
    wait_for(running(lambda: f"worker (pid {first}) was killed by SIGKILL; restarting it in 1 s" in log()),
             timeout=30, message="the runner's restart line")
    wait_for(running(lambda: len(_worker_pids(log())) >= 2 and log().count(" ready.") >= 2), timeout=60,
             message="a new worker ready")
    assert "web" in log() and "beat" in log()
    # ... and the launch made meanwhile reaches running
    def state():
        return _api(base, "GET", f"/api/v1/instances/{launched['id']}/", token=token)[1].get("state")

    wait_for(running(lambda: state() == "running"), timeout=120, interval=0.5, message="the launch to run")


def test_a_few_slow_clients_do_not_block_the_web(make_run):
    host, port = "127.0.0.1", int(make_run["base"].rsplit(":", 1)[1])
    slow: list[socket.socket] = []
    try:
        for _ in range(6):  # half-sent requests that never finish (the sync workers of old froze on 2)
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(s)
        for _ in range(3):
            assert _get(make_run["base"] + "/", timeout=20) == 200
    finally:
        for s in slow:
            s.close()


def test_the_procfile_runs_gunicorn_with_threaded_workers():
    web = dict(runner.parse_procfile(runtime.BASE_DIR / "Procfile"))["web"]
    assert "-k gthread" in web and "--threads" in web and "--timeout" in web
    assert Path(runtime.BASE_DIR / "requirements.txt").read_text().count("honcho") == 0


def test_a_private_redis_is_supervised_and_comes_back_on_its_port(tmp_path):
    """No Redis answers at REDIS_URL: `make run` starts its own under the runner; SIGKILLed, it is
    started again on the same port, and the worker and beat reconnect by themselves."""
    with _portal(tmp_path, f"redis://127.0.0.1:{runtime.free_port()}/0") as portal:
        base, log, running = portal["base"], portal["log"], portal["running"]
        assert "(a private redis-server, restarted by the runner if it dies)" in log()
        first = int(re.findall(r"runner +\| redis started \(pid (\d+)\)", log())[0])
        status, body = _api(base, "POST", "/api/v1/auth/token/", {"username": "demo", "password": "demo"})
        assert status == 200, body
        token = body["token"]
        os.kill(first, signal.SIGKILL)
        wait_for(running(lambda: f"redis (pid {first}) was killed by SIGKILL; restarting it" in log()),
                 timeout=30, message="the runner's restart line for redis")
        wait_for(running(lambda: len(re.findall(r"runner +\| redis started", log())) >= 2), timeout=30,
                 message="redis started again")
        assert _get(base + "/") == 200
        _launch_runs(base, token, running)  # the worker reconnected to the new (empty) Redis
