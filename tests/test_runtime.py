"""The runtime itself: Redis discovery, the real Celery worker fixture, Chromium, `make run`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.fixtures_runtime import TEST_QUEUE, WaitTimeout, wait_for
from tools import runtime


def _alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _dead_port_url() -> str:
    return f"redis://127.0.0.1:{runtime.free_port()}/0"


# --------------------------------------------------------------------------- plugin order


def test_plugin_environment_reaches_django_settings():
    """The -p plugin is imported before pytest-django loads settings: its env is in force."""
    from django.conf import settings

    assert settings.CELERY_TASK_DEFAULT_QUEUE == TEST_QUEUE
    assert TEST_QUEUE.startswith("skyport-test-")
    assert settings.SKYPORT_SIM_SPEED == float(os.environ["SKYPORT_SIM_SPEED"])


def test_wait_for_returns_the_value_and_bounds_waiting():
    calls = iter([0, None, "done"])
    assert wait_for(lambda: next(calls), timeout=5, interval=0) == "done"
    with pytest.raises(WaitTimeout, match="the impossible"):
        wait_for(lambda: False, timeout=0.2, interval=0.01, message="the impossible")


# --------------------------------------------------------------------------- Redis


def test_redis_answers_is_false_for_a_port_nobody_listens_on():
    assert runtime.redis_answers(_dead_port_url(), timeout=0.5) is False


def test_ensure_redis_returns_a_url_that_answers(redis_url):
    assert runtime.ensure_redis(url=redis_url) == redis_url
    assert runtime.redis_answers(redis_url)


def test_ensure_redis_starts_a_private_server_when_nothing_answers(tmp_path, monkeypatch):
    dead = _dead_port_url()
    monkeypatch.setenv("REDIS_URL", dead)
    url = runtime.ensure_redis(tmp_path)
    try:
        assert url != dead
        assert url.startswith("redis://127.0.0.1:")
        assert runtime.redis_answers(url)
        pid = runtime.private_redis_pid(url)
        assert pid and _alive(pid)
        port = url.rsplit(":", 1)[1].split("/")[0]
        assert (tmp_path / "redis" / f"redis-{port}.log").exists()
        assert (tmp_path / "redis" / f"redis-{port}.pid").read_text().strip() == str(pid)
    finally:
        runtime.stop_private_redis(url)
    assert not runtime.redis_answers(url, timeout=0.5)
    wait_for(lambda: not _alive(pid), timeout=10, message="the private redis-server to exit")


def test_ensure_redis_cli_prints_the_url_and_stops_its_server_on_ctrl_c(tmp_path):
    env = dict(os.environ, REDIS_URL=_dead_port_url(), SKYPORT_VAR_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.runtime", "ensure-redis"],
        cwd=runtime.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("redis://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        assert runtime.redis_answers(url)
        children = runtime.descendants(proc.pid)
        assert children, "the private redis-server should be a child of the CLI"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        wait_for(lambda: not any(_alive(p) for p in children), timeout=10, message="redis-server to exit")
        assert not runtime.redis_answers(url, timeout=0.5)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_missing_redis_server_without_root_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", _dead_port_url())
    monkeypatch.setattr(runtime, "_find_redis_server", lambda: None)
    monkeypatch.setattr(runtime, "_is_root", lambda: False)
    with pytest.raises(SystemExit) as exc:
        runtime.ensure_redis(tmp_path)
    assert "sudo apt-get install redis-server" in str(exc.value.code)


def test_missing_chromium_without_root_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(runtime, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(runtime, "_is_root", lambda: False)
    assert runtime.check_browser() == 1
    assert "sudo apt-get install chromium chromium-driver" in capsys.readouterr().err


def test_check_browser_finds_chromium():
    """`make test` runs check-browser first, which installs Chromium as root or explains."""
    assert runtime.check_browser() == 0


# --------------------------------------------------------------------------- Celery worker


def _nodename(worker) -> str:
    return worker.nodename.replace("%h", socket.gethostname())


def _send_accumulate(*args, **options) -> str:
    """Send Celery's built-in ``celery.accumulate`` to the session's test queue; return its id."""
    from portal.celery import app

    return app.send_task("celery.accumulate", args=list(args), **options).id


@pytest.mark.celery
def test_celery_worker_consumes_tasks_from_the_test_queue(celery_worker):
    from django.conf import settings

    from portal.celery import app

    assert app.conf.task_default_queue == TEST_QUEUE
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    replies = app.control.ping(destination=[_nodename(celery_worker)], timeout=5)
    assert replies and _nodename(celery_worker) in replies[0]

    task_id = _send_accumulate(1, 2, 3)
    wait_for(lambda: f"celery.accumulate[{task_id}] succeeded" in celery_worker.log_text(),
             timeout=60, message="the worker to run celery.accumulate")
    assert celery_worker.task_errors() == []


@pytest.mark.celery
def test_worker_uses_the_test_database(celery_worker):
    from django.db import connection

    env_db = celery_worker.env["DATABASE_URL"]
    assert celery_worker.env["SKYPORT_SIM_SPEED"] == "0"
    assert celery_worker.env["SKYPORT_CELERY_QUEUE"] == TEST_QUEUE
    if connection.vendor == "sqlite":
        assert env_db == "sqlite:///" + str(Path(connection.settings_dict["NAME"]).resolve())
        assert Path(connection.settings_dict["NAME"]).exists()
    else:
        assert env_db.endswith("/" + connection.settings_dict["NAME"])


@pytest.mark.celery
def test_killed_worker_restarts_and_gets_its_reserved_messages_back(celery_worker):
    # A task with a long countdown is reserved (unacked) by the worker until it is due.
    held = _send_accumulate("held", countdown=3600)
    wait_for(lambda: f"celery.accumulate[{held}] received" in celery_worker.log_text(),
             timeout=60, message="the worker to reserve the countdown task")
    old_pid = celery_worker.pid
    celery_worker.kill(signal.SIGKILL)
    assert not _alive(old_pid)

    celery_worker.restart()  # restores what the dead worker held, like the broker would
    assert celery_worker.pid != old_pid
    wait_for(lambda: f"celery.accumulate[{held}] received" in celery_worker.log_text(),
             timeout=60, message="the restarted worker to receive the redelivered task")
    fresh = _send_accumulate("fresh")
    wait_for(lambda: f"celery.accumulate[{fresh}] succeeded" in celery_worker.log_text(),
             timeout=60, message="the restarted worker to run a new task")


@pytest.mark.postgres
def test_postgres_marker_runs_only_on_postgresql(db):
    from django.db import connection

    assert connection.vendor == "postgresql"


# --------------------------------------------------------------------------- Browser


@pytest.mark.browser
def test_browser_page_drives_headless_chromium_against_the_live_server(browser_page):
    response = browser_page.goto("/admin/login/")
    assert response is not None and response.ok
    assert browser_page.locator("input[name=username]").count() == 1
    assert browser_page.evaluate("navigator.userAgent").find("HeadlessChrome") >= 0


# --------------------------------------------------------------------------- make run


def _http_status(url: str) -> int | None:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=3) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _http_get(url: str, data: bytes | None = None) -> tuple[int, str]:
    """(status, body) of a GET, or of a form POST of ``data`` with the CSRF cookie a GET of the same
    page handed out (so the server reads the body); error statuses included."""
    import http.cookiejar

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        if data is not None:
            opener.open(url, timeout=30).read()
        with opener.open(urllib.request.Request(url, data=data), timeout=30) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def test_make_run_entry_point_serves_and_stops_everything(tmp_path, redis_url):
    """`python -m tools.runtime run`: migrate, seed, web + worker + beat; Ctrl-C stops all."""
    port = runtime.free_port()
    queue = f"skyport-smoke-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    for name in ("DATABASE_URL", "SKYPORT_TEST_DB_NAME", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)  # its own SQLite database under the temporary var dir
    for name in ("DJANGO_DEBUG", "SKYPORT_DEMO", "DJANGO_SECRET_KEY"):
        env.pop(name, None)  # make run's defaults: the demo, no debug pages
    env.update(PORT=str(port), SKYPORT_VAR_DIR=str(tmp_path), REDIS_URL=redis_url,
               SKYPORT_CELERY_QUEUE=queue, SKYPORT_SIM_SPEED="0")
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tools.runtime", "run"], cwd=runtime.BASE_DIR,
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def log_text() -> str:
        return log_path.read_text(errors="replace")

    def running(what):
        def check():
            if proc.poll() is not None:
                raise AssertionError(f"`runtime run` exited with {proc.returncode}:\n{log_text()[-4000:]}")
            return what()
        return check

    try:
        status = wait_for(running(lambda: _http_status(f"http://127.0.0.1:{port}/")), timeout=180,
                          interval=0.5, message="GET / on the web process")
        assert 200 <= status < 400, f"GET / answered {status}:\n{log_text()[-4000:]}"
        wait_for(running(lambda: "Skyport is running" in log_text()), timeout=30, message="the banner")
        text = log_text()
        assert f"http://127.0.0.1:{port}/" in text and "/api/docs/" in text and "demo / " in text
        assert "This is the DEMO" in text and "Debug pages:         off" in text
        # make run's default mode shows no Django debug page: not for an unknown URL, not for a huge form
        for expected, (status, body) in ((404, _http_get(f"http://127.0.0.1:{port}/no-such-page/")),
                                         (413, _http_get(f"http://127.0.0.1:{port}/login/",
                                                         data=b"username=" + b"a" * 3_000_000))):
            assert status == expected and "Skyport" in body, (status, body[:500])
            assert "Traceback" not in body and "URLconf" not in body and "settings" not in body
        wait_for(running(lambda: " ready." in log_text()), timeout=90, message="the worker's ready line")
        wait_for(running(lambda: "beat: Starting" in log_text()), timeout=90, message="beat to start")
        ping = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "portal", "inspect", "ping", "-t", "5"],
            cwd=runtime.BASE_DIR, env={**env, "SKYPORT_DEMO": "1"}, capture_output=True, text=True, timeout=60,
        )
        assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr

        family = runtime.descendants(proc.pid)
        assert len(family) >= 4, f"expected web, worker and beat (and their children) under run: {family}"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log_text()[-4000:]
        wait_for(lambda: not [p for p in family if _alive(p)], timeout=30,
                 message=f"every child of `runtime run` to exit: {[p for p in family if _alive(p)]}")
        assert not runtime.port_in_use(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in runtime.descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_celery_beat_runs_on_the_test_settings(celery_beat):
    assert celery_beat.alive()
    assert "beat: Starting" in celery_beat.log_text()
    assert celery_beat.env["SKYPORT_CELERY_QUEUE"] == TEST_QUEUE


@pytest.mark.celery
def test_task_errors_reports_a_task_that_raised_in_this_test(celery_worker):
    from portal.celery import app

    assert celery_worker.task_errors() == []
    bad = app.send_task("celery.starmap", args=[]).id  # missing arguments: raises in the worker
    errors = wait_for(lambda: [line for line in celery_worker.task_errors() if bad in line], timeout=60,
                      message="the worker to log the failing task")
    assert "TypeError" in errors[0]
