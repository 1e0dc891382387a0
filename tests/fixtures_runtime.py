"""pytest plugin (loaded with ``-p tests.fixtures_runtime``): the real runtime parts for tests.

Real Redis (``redis_url``), a real Celery worker and beat in subprocesses on the pytest-django
test database (``celery_worker``, ``celery_beat``), headless Chromium through Playwright
(``browser_page``), and ``wait_for`` to bound waiting for something asynchronous.

Markers: ``celery`` (the test gets a live worker and a transactional database), ``browser``
(needs Chromium; missing Chromium is a failure, not a skip), ``postgres`` (skipped, with the
reason, when the database is not PostgreSQL).

This module is imported by pytest before pytest-django loads Django settings, so the
environment set below is what ``portal.settings`` reads.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

# --- Before Django settings load (pytest imports -p plugins before pytest-django's
# pytest_load_initial_conftests reads the settings; tests/test_runtime.py checks this).
os.environ.setdefault("SKYPORT_SIM_SPEED", "0")
TEST_QUEUE = f"skyport-test-{uuid.uuid4().hex[:12]}"
os.environ["SKYPORT_CELERY_QUEUE"] = TEST_QUEUE  # never consume a developer's real queue

# Set Django up now, with the environment above, so that plugins loaded after this one
# (-p tests.fixtures_domain) may import models at module level. pytest-django's own setup later
# finds Django ready and goes on as usual (DJANGO_SETTINGS_MODULE: the same as pyproject's).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django  # noqa: E402

django.setup()

from tools import runtime  # noqa: E402 - stdlib + redis only

BASE_DIR = runtime.BASE_DIR
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORKER_READY_TIMEOUT_S = 90.0

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """``wait_for`` gave up: the condition did not become true within the timeout."""


def wait_for(predicate: Callable[[], T], timeout: float = 60, interval: float = 0.1, message: str = "") -> T:
    """Call ``predicate`` until it returns something truthy; return that value.

    Only bounds waiting (never asserts on speed): raises ``WaitTimeout`` (an AssertionError) after
    ``timeout`` seconds. Exceptions from the predicate propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def _var_dir() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR)


def _artifacts_dir() -> Path:
    path = _var_dir() / "test-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tail(path: Path | None, lines: int = 60) -> str:
    if path is None:
        return ""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- Redis

_redis_state: dict[str, Any] = {"url": None}


def _activate_redis() -> str:
    """Find or start Redis once per session; point Django settings and the Celery app at it."""
    if _redis_state["url"]:
        return _redis_state["url"]
    from django.conf import settings

    from portal.celery import app

    url = runtime.ensure_redis(_var_dir(), url=os.environ.get("REDIS_URL") or settings.REDIS_URL)
    os.environ["REDIS_URL"] = url  # for subprocesses
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    app.conf.broker_url = url
    _redis_state["url"] = url
    return url


def _cleanup_redis() -> None:
    url = _redis_state["url"]
    if url and runtime.redis_answers(url):
        import redis

        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"*{TEST_QUEUE}*", count=1000))
            if keys:
                client.delete(*keys)
            for tag, payload in client.hgetall("unacked").items():
                try:
                    _message, exchange, routing_key = json.loads(payload)
                except ValueError:
                    continue
                if TEST_QUEUE in (exchange, routing_key):
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
        finally:
            client.close()
    runtime.stop_private_redis()
    _redis_state["url"] = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a Redis that answers (REDIS_URL, or a private redis-server under var/redis/)."""
    yield _activate_redis()


def restore_unacked(queue: str = TEST_QUEUE) -> int:
    """Put messages that a dead worker had reserved (unacked) back on ``queue``; return how many.

    Redis would do it by itself only after the visibility timeout (hours); a test that SIGKILLs
    its worker calls this (``CeleryProcess.restart`` does) to model the broker's redelivery now.
    Only while no worker consumes ``queue``: a live worker's reservations would be duplicated.
    """
    from portal.celery import app

    restored = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        client = channel.client
        for tag, payload in client.hgetall("unacked").items():
            try:
                _message, exchange, routing_key = json.loads(payload)
            except ValueError:
                continue
            if queue in (exchange, routing_key):
                channel.qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag, leftmost=True)
                restored += 1
    return restored


# --------------------------------------------------------------------------- Celery subprocesses


def worker_database_url() -> str:
    """A DATABASE_URL for the pytest-django test database (call after django_db_setup)."""
    from django.db import connection

    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        return "sqlite:///" + str(Path(sd["NAME"]).resolve())
    if connection.vendor == "postgresql":
        user = quote(sd.get("USER") or "", safe="")
        password = quote(sd.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = sd.get("HOST") or "127.0.0.1"
        port = f":{sd['PORT']}" if sd.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(sd['NAME'], safe='')}"
    raise RuntimeError(f"no worker DATABASE_URL for database vendor {connection.vendor!r}")


class CeleryProcess:
    """A real ``celery -A portal worker|beat`` subprocess (own process group, log in a file)."""

    def __init__(self, kind: str, args: list[str], env: dict[str, str], log_dir: Path, ready: str):
        self.kind = kind
        self.args = args
        self.env = env
        self.log_dir = log_dir
        self.ready_marker = ready
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_path: Path | None = None
        self.nodename = ""

    # -- lifecycle
    def start(self, timeout: float = WORKER_READY_TIMEOUT_S) -> CeleryProcess:
        self.starts += 1
        stem = f"celery-{self.kind}-{TEST_QUEUE}-{self.starts}"
        self.log_path = self.log_dir / f"{stem}.log"
        args = list(self.args)
        if self.kind == "worker":
            self.nodename = f"{TEST_QUEUE}-{self.starts}@%h"
            args += ["-n", self.nodename]
        else:
            args += ["-s", str(self.log_dir / f"{stem}-schedule")]
        cmd = [sys.executable, "-m", "celery", "-A", "portal", self.kind, *args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=runtime._die_with_parent,  # noqa: PLW1509
            )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"celery {self.kind} exited with {self.proc.returncode} while starting; "
                    f"log {self.log_path}:\n{_tail(self.log_path)}"
                )
            return self.ready_marker in self.log_path.read_text(errors="replace")

        try:
            wait_for(ready, timeout=timeout, interval=0.1, message=f"celery {self.kind} to be ready")
        except WaitTimeout as exc:
            self.stop()
            raise RuntimeError(f"{exc}; log {self.log_path}:\n{_tail(self.log_path)}") from None
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL, wait: float = 30.0) -> int | None:
        """Send ``sig``: SIGKILL goes to the whole process group (pool children too, like a
        machine dying); other signals (SIGTERM = warm shutdown) to the main process. Waits for
        the main process to exit; returns its exit code (None if it is still running)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        try:
            if sig == signal.SIGKILL:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL the process group if it takes too long."""
        if self.proc is None:
            return
        if self.alive() and self.kill(signal.SIGTERM, wait=timeout) is None:
            self.kill(signal.SIGKILL, wait=timeout)
        try:  # pool children left behind
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def restart(
        self, restore_unacked_messages: bool = True, timeout: float = WORKER_READY_TIMEOUT_S
    ) -> CeleryProcess:
        """Stop (if still running), hand a dead worker's reserved messages back to the queue
        (as the broker would after its visibility timeout), and start a fresh process."""
        self.stop()
        if restore_unacked_messages and self.kind == "worker":
            restore_unacked(TEST_QUEUE)
        return self.start(timeout=timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def mark(self) -> None:
        """Remember the log's end: ``task_errors()`` then looks only at what comes after."""
        self._mark = (self.log_path, self.log_path.stat().st_size if self.log_path else 0)

    def task_errors(self) -> list[str]:
        """Log lines of tasks that raised since the current test began (``celery_worker`` marks
        the log at setup; a restart starts a new log). Handy to fail fast inside a wait_for."""
        text = self.log_text()
        mark_path, offset = getattr(self, "_mark", (None, 0))
        if mark_path == self.log_path:
            text = text.encode()[offset:].decode(errors="replace")
        return [line for line in text.splitlines() if "raised unexpected" in line]

    def __repr__(self) -> str:
        state = "alive" if self.alive() else "stopped"
        pid = self.proc.pid if self.proc else None
        return f"<CeleryProcess {self.kind} pid={pid} {state} log={self.log_path}>"


def _celery_env(redis: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=worker_database_url(),
        REDIS_URL=redis,
        SKYPORT_SIM_SPEED="0",
        SKYPORT_CELERY_QUEUE=TEST_QUEUE,
        SKYPORT_VAR_DIR=str(_var_dir()),
        SKYPORT_TESTING="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("SKYPORT_TEST_DB_NAME", None)
    return env


@pytest.fixture(scope="session")
def celery_worker_session(redis_url, django_db_setup, django_db_blocker) -> Iterator[CeleryProcess]:
    """Session-wide real Celery worker on the test database and the session's test queue."""
    pool = os.environ.get("SKYPORT_TEST_WORKER_POOL", "prefork")
    args = ["-l", "info", "-P", pool, "-Q", TEST_QUEUE, "--without-gossip", "--without-mingle",
            "--include", "tests.provisioning.chore_kind"]  # a test-only step kind (tests/provisioning)
    if pool != "solo":
        args += ["-c", os.environ.get("SKYPORT_TEST_WORKER_CONCURRENCY", "2")]
    with django_db_blocker.unblock():
        env = _celery_env(redis_url)
    worker = CeleryProcess("worker", args, env, _artifacts_dir(), ready=" ready.")
    worker.start()
    _running_processes.append(worker)
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(celery_worker_session: CeleryProcess, transactional_db) -> Iterator[CeleryProcess]:
    """A live real Celery worker (``.pid``, ``.kill(sig)``, ``.restart()``, ``.log_path``).

    Uses ``transactional_db``: the worker is another process and only sees committed rows.
    A worker that an earlier test killed is started again first.
    """
    if not celery_worker_session.alive():
        celery_worker_session.restart()
    celery_worker_session.mark()
    yield celery_worker_session
    # Next test starts with an empty queue (the database is flushed between tests).
    if runtime.redis_answers(_redis_state["url"] or ""):
        from portal.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(TEST_QUEUE)


@pytest.fixture(scope="session")
def celery_beat_session(redis_url, django_db_setup, django_db_blocker) -> Iterator[CeleryProcess]:
    with django_db_blocker.unblock():
        env = _celery_env(redis_url)
    beat = CeleryProcess("beat", ["-l", "info"], env, _artifacts_dir(), ready="beat: Starting")
    beat.start()
    _running_processes.append(beat)
    yield beat
    beat.stop()


@pytest.fixture
def celery_beat(celery_beat_session: CeleryProcess, transactional_db) -> CeleryProcess:
    """A real ``celery beat`` subprocess on the test database and test queue."""
    if not celery_beat_session.alive():
        celery_beat_session.restart()
    return celery_beat_session


_running_processes: list[CeleryProcess] = []


# --------------------------------------------------------------------------- Browser

_browser_state: dict[str, Any] = {}


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """A Playwright sync Chromium (Debian's /usr/bin/chromium, headless) for the session."""
    if not os.access(runtime.CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {runtime.CHROMIUM}: run `python -m tools.runtime check-browser` "
            "(installs it as root) or `sudo apt-get install chromium chromium-driver`",
            pytrace=False,
        )
    # Playwright's sync API keeps an event loop in this thread; the ORM calls in the test body
    # are still synchronous, so let Django allow them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    # Playwright gives every launch a fresh temporary profile (its own --user-data-dir).
    browser = pw.chromium.launch(
        executable_path=runtime.CHROMIUM, headless=True, args=CHROMIUM_FLAGS, chromium_sandbox=False
    )
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture
def browser_page(request, chromium_browser, live_server) -> Iterator[Any]:
    """A fresh Playwright page whose base URL is pytest-django's ``live_server``: page.goto("/").

    On failure a screenshot and the page's HTML go to var/test-artifacts/.
    """
    context = chromium_browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    try:
        yield page
    finally:
        reports = request.node.stash.get(_reports_key, {})
        if any(rep.failed for rep in reports.values()):
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
            out = _artifacts_dir()
            try:
                page.screenshot(path=str(out / f"{stem}.png"), full_page=True)
                (out / f"{stem}.html").write_text(page.content())
                (out / f"{stem}.console.txt").write_text("\n".join(console))
                sys.stderr.write(f"\nbrowser artifacts: {out / stem}.png/.html/.console.txt\n")
            except Exception as exc:  # noqa: BLE001 - best effort, the test already failed
                sys.stderr.write(f"\ncould not save browser artifacts: {exc}\n")
        context.close()


# --------------------------------------------------------------------------- Hooks

_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_DB_FIXTURES = {"db", "transactional_db", "live_server", "celery_worker", "celery_beat", "redis_url",
                "django_db_setup"}


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # WhiteNoise warns on every request when STATIC_ROOT is missing (nothing is collected in tests).
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    config.addinivalue_line("markers", "celery: needs a real Celery worker on Redis")
    config.addinivalue_line("markers", "browser: drives headless Chromium")
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (DATABASE_URL=postgres://...)")


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        from django.conf import settings

        db = settings.DATABASES["default"]
        return [
            f"skyport: database {db['ENGINE'].rsplit('.', 1)[-1]} "
            f"(test db {db.get('TEST', {}).get('NAME') or 'test_' + str(db['NAME'])}), "
            f"celery queue {TEST_QUEUE}, SKYPORT_SIM_SPEED={os.environ.get('SKYPORT_SIM_SPEED')}"
        ]
    except Exception:  # noqa: BLE001
        return []


def _is_postgres() -> bool:
    from django.conf import settings

    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    needs_redis = False
    for item in items:
        names = getattr(item, "fixturenames", None)
        if item.get_closest_marker("celery") and names is not None:
            for name in ("transactional_db", "celery_worker"):
                if name not in names:
                    names.append(name)
        if item.get_closest_marker("postgres") and not _is_postgres():
            item.add_marker(pytest.mark.skip(
                reason="needs PostgreSQL: this run's DATABASE_URL is not postgres:// (CI runs it on both)"
            ))
        if names is not None and (_DB_FIXTURES & set(names) or item.get_closest_marker("django_db")):
            needs_redis = True
    if needs_redis and not config.option.collectonly:
        # Before any test: settings and the Celery app point at a Redis that answers, so an
        # on_commit .delay() in any test publishes instead of retrying a dead broker.
        _activate_redis()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    item.stash.setdefault(_reports_key, {})[report.when] = report
    if report.failed and {"celery_worker", "celery_beat"} & set(getattr(item, "fixturenames", ())):
        for proc in _running_processes:
            if proc.log_path is not None:
                title = f"celery {proc.kind} log (tail) {proc.log_path}"
                report.sections.append((title, _tail(proc.log_path)))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for proc in _running_processes:
        proc.stop()
    _cleanup_redis()
    if exitstatus == 0:
        for proc in _running_processes:
            for path in proc.log_dir.glob(f"celery-{proc.kind}-{TEST_QUEUE}-*"):
                path.unlink(missing_ok=True)
