"""Local runtime for Skyport: find or start Redis, check the browser, run web + worker + beat.

Standard library plus redis-py only, importable without Django being set up, so that the
Makefile, the test fixtures and ``python -m tools.runtime`` can use it before anything else.

    python -m tools.runtime run            # migrate, seed, Redis, web + worker + beat (make run)
    python -m tools.runtime ensure-redis   # print a Redis URL that answers (starts one if needed)
    python -m tools.runtime check-browser  # make sure headless Chromium is installed (make test)
"""
from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tools.runner import Supervisor, parse_procfile

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = os.environ.get("SKYPORT_CHROMIUM", "/usr/bin/chromium")
REDIS_START_TIMEOUT_S = 20.0

# Private redis-server processes started by this Python process: stopped by stop_private_redis().
_private_redis: dict[str, subprocess.Popen] = {}
_apt_updated = False


class MissingDependency(SystemExit):
    """A system package is missing and we may not install it: exits with a message saying what to do."""

    def __init__(self, message: str):
        super().__init__(f"skyport: {message}")


def var_dir_default() -> Path:
    return Path(os.environ.get("SKYPORT_VAR_DIR", BASE_DIR / "var"))


def _log(message: str) -> None:
    print(f"skyport: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- Redis


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True if a Redis server at ``url`` answers PING within ``timeout`` seconds."""
    import redis

    client = None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - any failure means "does not answer"
        return False
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001, S110
                pass


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(*packages: str) -> None:
    """``apt-get install -y`` the packages, non-interactively (runs ``apt-get update`` once first)."""
    global _apt_updated
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        _log("apt-get update")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdin=subprocess.DEVNULL)
        _apt_updated = True
    _log(f"apt-get install -y {' '.join(packages)}")
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def _find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _redis_binary() -> str:
    binary = _find_redis_server()
    if binary:
        return binary
    if _is_root() and shutil.which("apt-get"):
        _log("redis-server is not installed; installing Debian's redis-server")
        apt_install("redis-server")
        binary = _find_redis_server()
        if binary:
            return binary
    raise MissingDependency(
        "Redis is not reachable at REDIS_URL and redis-server is not installed.\n"
        "  Install it:  sudo apt-get install redis-server   (Debian/Ubuntu)\n"
        "               brew install redis                  (macOS)\n"
        "  or point REDIS_URL at a Redis server that answers, e.g. REDIS_URL=redis://host:6379/0"
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to this child when the process that started it dies (no orphans)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001, S110
            pass


def private_redis_argv(port: int, redis_dir: Path, *, logfile: str | None = None) -> list[str]:
    """The redis-server command line for a private server on ``port`` (no persistence: ``--save ""
    --appendonly no``; loopback only). Without ``logfile`` it logs warnings to stdout."""
    argv = [_redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(redis_dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"]
    if logfile is None:
        return [*argv, "--loglevel", "warning"]
    return [*argv, "--pidfile", str(redis_dir / f"redis-{port}.pid"), "--logfile", logfile]


def start_private_redis(var_dir: str | os.PathLike | None = None) -> str:
    """Start a redis-server of our own on a free loopback port, files under ``var/redis/``.

    No persistence. Returns its URL once it answers PING.
    """
    binary = _redis_binary()
    redis_dir = Path(var_dir or var_dir_default()) / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        log_path = redis_dir / f"redis-{port}.log"
        cmd = private_redis_argv(port, redis_dir, logfile=str(log_path))
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not kill it before its clients
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if redis_answers(url, timeout=0.5):
                _private_redis[url] = proc
                _log(f"started a private redis-server (pid {proc.pid}) at {url}, log {log_path}")
                return url
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            last_error = log_path.read_text()[-2000:]
        except OSError:
            last_error = ""
    raise RuntimeError(f"could not start redis-server ({binary}); last log:\n{last_error}")


def ensure_redis(var_dir: str | os.PathLike | None = None, url: str | None = None) -> str:
    """Return a Redis URL that answers: ``REDIS_URL`` if it does, else a private redis-server's."""
    url = url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if redis_answers(url):
        return url
    _log(f"no Redis answers at {url}; starting a private redis-server")
    return start_private_redis(var_dir)


def private_redis_pid(url: str) -> int | None:
    """PID of the private redis-server this process started at ``url`` (None if not ours)."""
    proc = _private_redis.get(url)
    return proc.pid if proc is not None else None


def stop_private_redis(url: str | None = None, timeout: float = 10.0) -> None:
    """Stop the private redis-server at ``url``, or every one this process started."""
    for key in [url] if url is not None else list(_private_redis):
        proc = _private_redis.pop(key, None)
        if proc is None:
            continue
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


atexit.register(stop_private_redis)


# --------------------------------------------------------------------------- Browser


def check_browser() -> int:
    """Make sure headless Chromium is at /usr/bin/chromium (install it via apt when root)."""
    if os.access(CHROMIUM, os.X_OK):
        print(f"skyport: Chromium found at {CHROMIUM}")
        return 0
    if _is_root() and shutil.which("apt-get"):
        _log("Chromium is missing; installing Debian's chromium and chromium-driver")
        apt_install("chromium", "chromium-driver")
        if os.access(CHROMIUM, os.X_OK):
            print(f"skyport: Chromium installed at {CHROMIUM}")
            return 0
    print(
        f"skyport: the browser tests need Chromium at {CHROMIUM}, and it is missing.\n"
        "  Install it:  sudo apt-get install chromium chromium-driver\n"
        "  (or set SKYPORT_CHROMIUM to a Chromium executable)",
        file=sys.stderr,
    )
    return 1


# --------------------------------------------------------------------------- make run


def descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of ``pid`` (Linux /proc walk; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return []
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ..." -- comm may contain spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _manage(*args: str, env: dict[str, str]) -> None:
    cmd = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    _log(" ".join(["manage.py", *args]))
    result = subprocess.run(cmd, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"skyport: manage.py {' '.join(args)} failed (exit {result.returncode})")


def _wait_http(url: str, going_on: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and going_on():
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
                return True
        except urllib.error.HTTPError:
            return True  # the server answers; the page itself is not our concern here
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    return False


def banner(port: str, *, private_redis: bool = False) -> str:
    demo_pw = os.environ.get("SKYPORT_DEMO_PASSWORD", "demo")
    admin_pw = os.environ.get("SKYPORT_ADMIN_PASSWORD", "admin")
    base = f"http://127.0.0.1:{port}/"
    demo = os.environ.get("SKYPORT_DEMO", "1").strip().lower() in {"1", "true", "yes", "on"}
    debug = os.environ.get("DJANGO_DEBUG", "0").strip().lower() in {"1", "true", "yes", "on"}
    login = (f"demo / {demo_pw}      (staff: admin / {admin_pw})" if demo
             else "the accounts you created (no demo accounts: SKYPORT_DEMO=0)")
    lines = [
        "",
        "=" * 64,
        f"  Skyport is running:  {base}",
        "  This is the DEMO: well-known passwords, not for a network (README, \"Deploying\")." if demo
        else "  Not the demo: no well-known accounts.",
        f"  Log in:              {login}",
        f"  Debug pages:         {'ON (DJANGO_DEBUG=1)' if debug else 'off (DJANGO_DEBUG=1 turns them on)'}",
        f"  API docs:            {base}api/docs/",
        f"  Admin:               {base}admin/",
        f"  Redis:               {os.environ.get('REDIS_URL')}"
        + (" (a private redis-server, restarted by the runner if it dies)" if private_redis else ""),
        f"  Simulation speed:    {os.environ.get('SKYPORT_SIM_SPEED', '1.0')} (1.0 = real time, 0 = instant)",
        "  Stop:                Ctrl-C",
        "=" * 64,
        "",
    ]
    return "\n".join(lines)


def _wait_redis(url: str, supervisor: Supervisor) -> bool:
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if redis_answers(url, timeout=0.5):
            return True
        supervisor.tick()
        time.sleep(0.1)
    return False


def run() -> int:
    """``make run``: migrate, seed if empty, make sure Redis answers, run web + worker + beat."""
    var_dir = var_dir_default()
    (var_dir / "staticfiles").mkdir(parents=True, exist_ok=True)  # STATIC_ROOT: WhiteNoise wants it
    os.environ["SKYPORT_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["PYTHONUNBUFFERED"] = "1"
    # `make run` is the demo: the demo accounts, a secret key kept under var/. DEBUG stays off
    # (no debug pages) unless DJANGO_DEBUG=1 asks for it.
    os.environ.setdefault("SKYPORT_DEMO", "1")
    port = os.environ.setdefault("PORT", "8000")
    # gunicorn and celery live next to this interpreter (the venv's bin/)
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

    if port_in_use(int(port)):
        raise SystemExit(f"skyport: port {port} is already in use; pick another, e.g. PORT=8001 make run")

    programs = parse_procfile(BASE_DIR / "Procfile")
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    private = not redis_answers(redis_url)
    if private:
        # A Redis of our own, supervised like the Procfile's processes: killed, it is started again on
        # the same port (empty: the reconciler re-sends the steps whose messages it held).
        _log(f"no Redis answers at {redis_url}; starting a private redis-server under the runner")
        redis_dir = var_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        port_r = free_port()
        programs.insert(0, ("redis", shlex.join(private_redis_argv(port_r, redis_dir))))
        redis_url = f"redis://127.0.0.1:{port_r}/0"
    os.environ["REDIS_URL"] = redis_url
    env = dict(os.environ)
    supervisor = Supervisor(programs, env=env, cwd=BASE_DIR, preexec=_die_with_parent)
    if private:
        supervisor.start(["redis"])
        if not _wait_redis(redis_url, supervisor):
            supervisor.stop()
            raise SystemExit(f"skyport: the private redis-server did not answer at {redis_url} within "
                             f"{REDIS_START_TIMEOUT_S:g} s; see its lines above")
    try:
        _manage("migrate", "--noinput", env=env)
        _manage("seed_demo", "--if-empty", env=env)
    except BaseException:
        supervisor.stop()
        raise

    stopping = {"signal": None}

    def _stop(signum, _frame):
        if stopping["signal"] is None:
            stopping["signal"] = signum
            _log(f"stopping (signal {signum}) ...")
        supervisor.stopping = True  # the loop below ends; stop() then stops every process

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)

    def _banner() -> None:
        if _wait_http(f"http://127.0.0.1:{port}/", lambda: not supervisor.stopping, timeout=90):
            print(banner(port, private_redis=private), flush=True)
        elif not supervisor.stopping:
            _log(f"the web process did not answer on port {port} within 90 s; see the log above")

    try:
        supervisor.start([name for name, _ in programs if name != "redis"])
        threading.Thread(target=_banner, daemon=True).start()
        supervisor.run()
    finally:
        supervisor.stop()
        stop_private_redis()
    _log("stopped.")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "help"
    if command == "run":
        return run()
    if command == "ensure-redis":
        url = ensure_redis(var_dir_default())
        print(url, flush=True)
        if _private_redis:
            # Keep the private server alive for whoever asked, until interrupted.
            _log("private redis-server runs until Ctrl-C")
            try:
                _private_redis[url].wait()
            except KeyboardInterrupt:
                pass
            finally:
                stop_private_redis()
        return 0
    if command == "check-browser":
        return check_browser()
    print(__doc__.strip(), file=sys.stderr)
    return 2 if command not in {"help", "-h", "--help"} else 0


if __name__ == "__main__":
    sys.exit(main())
