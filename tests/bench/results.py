"""Shared benchmark results file: each benchmark merges its own key into var/bench/results.json."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

# SKYPORT_BENCH_RESULTS redirects the file (the benchmarks' smoke test writes elsewhere).
RESULTS = Path(os.environ.get("SKYPORT_BENCH_RESULTS")
               or Path(__file__).resolve().parents[2] / "var" / "bench" / "results.json")


def record(key: str, figures: dict, *, path: Path | None = None) -> None:
    """Merge `{key: figures}` into the JSON results file, creating it (and its folder) if missing.

    Other benchmarks write to the same file, possibly at the same time: a lock file serialises
    writers and the new content replaces the old atomically.
    """
    target = Path(path) if path is not None else RESULTS
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(target.read_text()) if target.exists() else {}
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        data[key] = figures
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".results-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, target)
