import json

from tests.bench.results import record


def test_record_creates_and_merges(tmp_path):
    path = tmp_path / "var" / "bench" / "results.json"
    record("other_bench", {"seconds": 1.0}, path=path)
    record("migration_sim", {"memory_gib": 64, "seconds": 0.05, "speedup_vs_python": 100.0}, path=path)
    record("migration_sim", {"memory_gib": 64, "seconds": 0.04, "speedup_vs_python": 120.0}, path=path)
    data = json.loads(path.read_text())
    assert data == {"other_bench": {"seconds": 1.0},
                    "migration_sim": {"memory_gib": 64, "seconds": 0.04, "speedup_vs_python": 120.0}}
