"""Benchmark: a 64 GiB guest migrated page by page with the `wws` dirty model.

Prints the median CPU time (time.process_time) of the numpy engine over several repetitions and
the speed-up over a straightforward pure-Python per-page loop of the same model, then records
both under "migration_sim" in var/bench/results.json. Run: `python tests/bench/bench_migration.py`
(no Django needed).
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hypervisor_sim.migration import MIB, MigrationConfig, MigrationRun  # noqa: E402
from tests.bench.results import record  # noqa: E402

MEMORY_GIB = 64
BANDWIDTH_MIBPS = 1250.0  # 10 GbE
DIRTY_RATE_MIBPS = 200.0
PYTHON_SCALE = 64  # the pure-Python loop runs on 64 GiB / 64 = 1 GiB and is scaled linearly


class PurePythonWws:
    """The `wws` model written the obvious way: visit every page, flip a biased coin.

    Same model as migration.WwsDirty (hot set of wws_fraction of the pages receiving
    hot_share of the writes, per-page dirty probability 1 - exp(-writes / set size)); only the
    random stream differs.
    """

    def __init__(self, n_pages: int, rate_pages_per_s: float, wws_fraction: float, hot_share: float,
                 seed: int) -> None:
        self.n_pages = n_pages
        self.rate = rate_pages_per_s
        self.hot_pages = min(n_pages, max(1, int(round(n_pages * wws_fraction))))
        self.cold_pages = n_pages - self.hot_pages
        self.hot_share = hot_share if self.cold_pages else 1.0
        self.rnd = random.Random(seed)
        self.hot_start = self.rnd.randint(0, self.cold_pages)
        self.bitmap = bytearray(n_pages)

    def dirty(self, duration_s: float, throttle: float) -> int:
        writes = self.rate * (1.0 - throttle) * duration_s
        p_hot = -math.expm1(-self.hot_share * writes / self.hot_pages)
        p_cold = -math.expm1(-(1.0 - self.hot_share) * writes / self.cold_pages) if self.cold_pages else 0.0
        h0, h1 = self.hot_start, self.hot_start + self.hot_pages
        rnd = self.rnd.random
        bitmap = self.bitmap
        count = 0
        for page in range(self.n_pages):
            p = p_hot if h0 <= page < h1 else p_cold
            if rnd() < p:
                bitmap[page] = 1
                count += 1
            else:
                bitmap[page] = 0
        return count


def config(memory_gib: float, scale: float = 1.0, seed: int = 0) -> MigrationConfig:
    return MigrationConfig(
        memory_mib=int(memory_gib * 1024), bandwidth_mibps=BANDWIDTH_MIBPS / scale,
        dirty_rate_mibps=DIRTY_RATE_MIBPS / scale, dirty_model="wws", seed=seed,
    )


def run_numpy(cfg: MigrationConfig) -> MigrationRun:
    run = MigrationRun(cfg)
    while not run.done:
        run.step()
    return run


def run_python(cfg: MigrationConfig) -> MigrationRun:
    model = PurePythonWws(cfg.n_pages, cfg.dirty_rate_mibps * MIB / cfg.page_size, cfg.wws_fraction,
                          cfg.hot_rewrite_share, cfg.seed)
    run = MigrationRun(cfg, dirty_model=model)
    while not run.done:
        run.step()
    return run


def cpu_seconds(fn, *args) -> float:
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def main(repetitions: int = 7, python_repetitions: int = 3) -> dict:
    cfg = config(MEMORY_GIB)
    run_numpy(cfg)  # warm-up: imports, first allocation
    numpy_s = statistics.median(cpu_seconds(run_numpy, cfg) for _ in range(repetitions))
    res = run_numpy(cfg).result()

    # Bandwidth and dirty rate scale with memory, so the small run has the same rounds (same
    # durations, volumes / 64) and exactly 1/64 of the per-page work: linear scaling is exact
    # up to the random draws.
    small = config(MEMORY_GIB / PYTHON_SCALE, PYTHON_SCALE)
    small_res = run_python(small).result()
    python_small_s = statistics.median(cpu_seconds(run_python, small) for _ in range(python_repetitions))
    python_s = python_small_s * PYTHON_SCALE
    speedup = python_s / numpy_s

    print(f"64 GiB guest, {cfg.n_pages:,} pages of 4 KiB, wws model, {BANDWIDTH_MIBPS:g} MiB/s link, "
          f"{DIRTY_RATE_MIBPS:g} MiB/s page writes")
    print(f"  numpy engine : median {numpy_s * 1000:.1f} ms CPU over {repetitions} runs "
          f"({len(res.rounds)} rounds, {res.outcome}, downtime {res.downtime_ms:.0f} ms)")
    print(f"  pure Python  : {python_small_s:.2f} s CPU for 1 GiB ({len(small_res.rounds)} rounds), "
          f"scaled linearly x{PYTHON_SCALE} -> {python_s:.1f} s for 64 GiB")
    print(f"  speed-up     : {speedup:.0f}x")
    figures = {"memory_gib": MEMORY_GIB, "seconds": round(numpy_s, 4), "speedup_vs_python": round(speedup, 1),
               "python_seconds_scaled": round(python_s, 2), "rounds": len(res.rounds),
               "repetitions": repetitions, "method": "median time.process_time; Python measured on 1 GiB x64"}
    record("migration_sim", figures)
    return figures


if __name__ == "__main__":
    main()
