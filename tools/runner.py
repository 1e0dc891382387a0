"""A small process supervisor for `make run`: the Procfile's processes, each restarted when it dies.

honcho stopped every process as soon as one exited, so a killed Celery worker took the web server
down with it. Here a process that exits on its own (a crash, SIGKILL, the OOM killer) is logged
and started again after a back-off (1 s, doubling to 30 s while it keeps dying young, back to 1 s
once it has run for a minute); the others go on. Only Ctrl-C / SIGTERM stops them all.

Standard library only. Each process runs in its own process group (``/bin/sh -c "exec ..."``, so the
Procfile's ``$PORT`` and ``${VAR:-default}`` expand as under honcho); when one dies, whatever is
left of its group (a killed Celery worker's pool children) is killed before the restart. Output
lines are prefixed with the time and the process name, as honcho printed them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a process that ran this long before dying starts again after the first back-off
STOP_TIMEOUT_S = 15.0


def parse_procfile(path: Path) -> list[tuple[str, str]]:
    """[(name, command), ...] from a Procfile (``name: command`` lines; # comments and blanks skipped)."""
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        entries.append((name.strip(), command.strip()))
    return entries


@dataclass
class Program:
    name: str
    command: str
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = BACKOFF_FIRST_S
    restart_at: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Start the programs, restart any that dies, stop them all on request."""

    def __init__(self, programs: list[tuple[str, str]], *, env: dict[str, str], cwd: Path,
                 out=None, preexec: Callable[[], None] | None = None, backoff_first: float = BACKOFF_FIRST_S):
        width = max(len(name) for name, _ in programs)
        self.backoff_first = backoff_first
        self.programs = [Program(name, command, backoff=backoff_first) for name, command in programs]
        self.width = width
        self.env = env
        self.cwd = cwd
        self.out = out or sys.stdout
        self.preexec = preexec
        self.stopping = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ output
    def say(self, name: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self.out.write(f"{stamp} {name:<{self.width}} | {text}\n")
            self.out.flush()

    def _pump(self, program: Program, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.say(program.name, raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    # ------------------------------------------------------------------ processes
    def _start(self, program: Program) -> None:
        # A simple command replaces the shell (its pid is the program's); a compound one runs under it.
        simple = not any(c in program.command for c in ";&|()\n") and not program.command.startswith(("exit", "trap"))
        script = f"exec {program.command}" if simple else program.command
        program.proc = subprocess.Popen(
            ["/bin/sh", "-c", script], cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=self.preexec,  # noqa: PLW1509
        )
        program.started_at = time.monotonic()
        program.restart_at = None
        reader = threading.Thread(target=self._pump, args=(program, program.proc.stdout), daemon=True)
        reader.start()
        program.readers = [reader]
        self.say("runner", f"{program.name} started (pid {program.proc.pid})")

    def start(self, names: list[str] | None = None) -> None:
        """Start the programs (those named, in their order; default all): `make run` starts its own
        Redis first and the Procfile's processes once the database is migrated."""
        for program in self.programs:
            if names is None or program.name in names:
                self._start(program)

    def pid(self, name: str) -> int | None:
        for program in self.programs:
            if program.name == name and program.proc is not None and program.proc.poll() is None:
                return program.proc.pid
        return None

    @staticmethod
    def _kill_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _describe(code: int) -> str:
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"

    def tick(self) -> None:
        """One round: notice deaths, schedule and perform restarts."""
        now = time.monotonic()
        for program in self.programs:
            proc = program.proc
            if proc is not None and program.restart_at is None and (code := proc.poll()) is not None:
                self._kill_group(proc, signal.SIGKILL)  # what is left of it: pool children, workers
                if self.stopping:
                    continue
                if now - program.started_at >= STABLE_AFTER_S:
                    program.backoff = self.backoff_first
                delay = program.backoff
                program.backoff = min(BACKOFF_MAX_S, program.backoff * 2)
                program.restart_at = now + delay
                program.restarts += 1
                self.say("runner", f"{program.name} (pid {proc.pid}) {self._describe(code)}; restarting it in "
                                   f"{delay:g} s (restart {program.restarts}); the other processes keep running")
            elif program.restart_at is not None and now >= program.restart_at and not self.stopping:
                self._start(program)

    def run(self, poll_s: float = 0.2) -> None:
        """Supervise until stop() is called (from a signal handler)."""
        while not self.stopping:
            self.tick()
            time.sleep(poll_s)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM to every process group, SIGKILL to what is still there after ``timeout``."""
        self.stopping = True
        live = [p.proc for p in self.programs if p.proc is not None and p.proc.poll() is None]
        for proc in live:
            self._kill_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for program in self.programs:
            if program.proc is not None:
                self._kill_group(program.proc, signal.SIGKILL)
                try:
                    program.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            for reader in program.readers:
                reader.join(timeout=2)

    def alive(self) -> bool:
        return any(p.proc is not None and p.proc.poll() is None for p in self.programs)
