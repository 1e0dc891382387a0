"""The placement benchmark runs end to end on a small fleet and records every figure it promises."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _admin_url() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{host}:{port}/postgres"


@pytest.mark.postgres
def test_placement_benchmark_runs_and_records_its_figures(tmp_path):
    results = tmp_path / "results.json"
    env = {**os.environ, "DATABASE_URL": _admin_url(), "SKYPORT_BENCH_RESULTS": str(results),
           "SKYPORT_BENCH_DB": f"skyport_bench_smoke_{os.getpid()}"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests/bench/bench_placement.py"), "--hosts", "60", "--instances", "300",
         "--seconds", "1", "--repeats", "2", "--decisions", "60"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(results.read_text())["placement"]
    assert figures["hosts"] == 70 and figures["instances"] == 350
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert figures["placements_per_s_8_clients"] > 0 and figures["requests_per_s_8_clients"] > 0
    low, high = figures["placements_per_s_8_clients_range"]
    assert low <= figures["placements_per_s_8_clients"] <= high and figures["concurrent_runs"] == 2
    # Constant whatever the fleet size: 10 hosts or 60.
    assert figures["queries_per_decision"] == figures["queries_per_decision_10_hosts"] == 1
    assert figures["queries_per_placement"] == figures["queries_per_placement_10_hosts"] == 3
    assert figures["queries_per_request"] == figures["queries_per_request_10_hosts"]
    assert figures["ledger_exact"] is True
    assert "ledger: exact" in proc.stdout
