"""The uniform dirty model against the closed form of Liu et al. (HPDC 2011).

The expected values are computed here from the formulas, independently of the library:
V_i = M * lam^i with lam = D / R; n = the first i with V_i <= R * limit; V_tot = M (1 - lam^(n+1)) / (1 - lam).
"""

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hypervisor_sim import MigrationConfig, simulate_migration


def closed_form(m: float, r: float, d: float, limit_ms: float) -> tuple[int, list[float], float]:
    lam = d / r
    threshold = r * limit_ms / 1000
    n = 0 if m <= threshold else math.ceil(math.log(threshold / m) / math.log(lam))
    volumes = [m * lam**i for i in range(n + 1)]
    return n, volumes, m * (1 - lam ** (n + 1)) / (1 - lam)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    m=st.integers(min_value=1024, max_value=65536),
    r=st.floats(min_value=100, max_value=5000),
    lam=st.floats(min_value=0.05, max_value=0.9),
    limit_ms=st.floats(min_value=100, max_value=1000),
)
def test_uniform_model_matches_closed_form_within_1_percent(m, r, lam, limit_ms):
    d = lam * r
    n, volumes, v_tot = closed_form(m, r, d, limit_ms)
    threshold = r * limit_ms / 1000
    # The stop test is a step: within 0.5 % of it, one page of rounding may legitimately decide.
    assume(volumes[-1] < 0.995 * threshold)
    assume(n == 0 or volumes[-2] > 1.005 * threshold)

    res = simulate_migration(MigrationConfig(memory_mib=m, bandwidth_mibps=r, dirty_rate_mibps=d,
                                             downtime_limit_ms=limit_ms, max_rounds=10_000, max_total_factor=1e9))
    assert res.outcome == "completed"
    assert res.converged_by == "threshold"
    assert len(res.rounds) == n + 1  # rounds 0..n-1 pre-copy, round n stop-and-copy
    assert [r_.stop_and_copy for r_ in res.rounds] == [False] * n + [True]
    for rec, v in zip(res.rounds, volumes, strict=True):
        assert rec.sent_mib == pytest.approx(v, rel=0.01)
        assert rec.duration_s == pytest.approx(v / r, rel=0.01)
    assert res.total_mib == pytest.approx(v_tot, rel=0.01)
    assert res.downtime_ms == pytest.approx(volumes[-1] / r * 1000, rel=0.01)
    assert res.total_s == pytest.approx(v_tot / r, rel=0.01)


def test_closed_form_example_by_hand():
    # M = 4096, R = 1250, D = 200: lam = 0.16, threshold 375 MiB -> V = 4096, 655.36, 104.86; n = 2
    res = simulate_migration(MigrationConfig(4096, 1250, 200))
    assert [round(r.sent_mib, 1) for r in res.rounds] == [4096.0, 655.4, 104.9]
    assert res.total_mib == pytest.approx(4096 * (1 - 0.16**3) / (1 - 0.16), rel=1e-4)
    assert res.downtime_ms == pytest.approx(104.8576 / 1250 * 1000, rel=1e-3)


def test_resume_time_adds_to_downtime_and_total():
    base = simulate_migration(MigrationConfig(4096, 1250, 200))
    slow = simulate_migration(MigrationConfig(4096, 1250, 200, resume_ms=50))
    assert slow.downtime_ms == pytest.approx(base.downtime_ms + 50)
    assert slow.total_s == pytest.approx(base.total_s + 0.05)


def test_small_guest_is_sent_in_one_stop_and_copy_round():
    res = simulate_migration(MigrationConfig(256, 1250, 200))  # 256 MiB fits in 375 MiB
    assert len(res.rounds) == 1 and res.rounds[0].stop_and_copy
    assert res.downtime_ms == pytest.approx(256 / 1250 * 1000)
