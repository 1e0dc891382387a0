"""The operations benchmark runs end to end on a small drain and records every figure it promises."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bench.test_bench_placement import _admin_url

ROOT = Path(__file__).resolve().parents[2]


def test_operations_benchmark_runs_and_records_its_figures(tmp_path, settings):
    results = tmp_path / "results.json"
    env = {**os.environ, "SKYPORT_BENCH_RESULTS": str(results),
           "SKYPORT_BENCH_OPS_DB": f"skyport_bench_ops_smoke_{os.getpid()}"}
    env.pop("SKYPORT_CELERY_QUEUE", None)
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        env["DATABASE_URL"] = _admin_url()
    else:
        env["DATABASE_URL"] = "sqlite:///unused"  # not postgres://: the bench uses its own SQLite file
        env["SKYPORT_BENCH_OPS_SQLITE_ONLY"] = "1"
    proc = subprocess.run([sys.executable, str(ROOT / "tests/bench/bench_operations.py"), "--guests", "6"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(results.read_text())["operations"]
    assert figures["evacuation_guests"] == 6 and figures["migrations_completed"] == 6
    assert figures["evacuation_wall_s"] > 0 and figures["rounds"] >= 6 and figures["rounds_per_s"] > 0
    assert figures["celery_hops"] > figures["rounds"] and figures["bare_celery_hops_per_s"] > 0
    assert abs(figures["ratio_to_bare_celery"] - figures["hops_per_s"] / figures["bare_celery_hops_per_s"]) < 0.01
    single = figures["bare_single_chain_hops_per_s"]
    assert single > 0 and abs(figures["ratio_to_single_chain"] - figures["hops_per_s"] / single) < 0.01
    assert figures["task_ms_per_hop"] > 0 and figures["bare_task_ms_per_hop"] > 0
    floor = figures["db_floor_hops_per_s"]  # hops that only lock one migration row and commit
    assert floor > 0 and figures["db_floor_task_ms_per_hop"] > 0
    assert abs(figures["db_floor_ratio_to_bare_celery"] - floor / figures["bare_celery_hops_per_s"]) < 0.01
    assert abs(figures["ratio_to_db_floor"] - figures["hops_per_s"] / floor) < 0.01
    assert sum(figures["hops_by_kind"].values()) == figures["celery_hops"] and figures["hops_by_kind"]["rounds"] == \
        figures["rounds"]
    assert figures["evacuation_predicted_s"] > 0 and figures["evacuation_simulated_s"] > 0
    assert figures["ledger_exact"] is True and "ledger: exact" in proc.stdout
