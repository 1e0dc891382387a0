"""pytest plugin (``-p tests.fixtures_domain``): domain test data and an inline pipeline driver.

`drain()` runs the real steps (the same `engine.step_advance` the Celery task calls) until no
row of any kind has a step left, so service and API tests need no broker. Tests marked `celery` use the
real worker instead and keep real dispatch.
"""
from __future__ import annotations

import pytest

from provisioning.pipeline import engine


@pytest.fixture(autouse=True)
def _capture_dispatch(request, monkeypatch):
    """Outside `celery` tests, record enqueued steps instead of publishing them to Redis."""
    if request.node.get_closest_marker("celery") or request.node.get_closest_marker("browser"):
        yield None
        return
    sent: list[tuple[str, int, int, float]] = []
    monkeypatch.setattr(engine, "step_enqueue",
                        lambda *, kind, object_id, seq, countdown=0.0: sent.append((kind, object_id, seq, countdown)))
    yield sent


@pytest.fixture
def catalog(db):
    """The demo marketplace, instance types and 20-host fleet (no users)."""
    from provisioning.fixtures.demo import demo_seed

    demo_seed(with_users=False)


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-pass-123")


@pytest.fixture
def other_user(db, django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-pass-123")


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-pass-123")


@pytest.fixture
def api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api_other(other_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(other_user)
    return client


def drain(max_steps: int = 1000) -> int:
    """Run pending steps of every kind inline until no row has one left; return how many ran."""
    ran = 0
    while ran < max_steps:
        pending = [(kind.name, pk, seq) for kind in engine.kinds()
                   for pk, seq in kind.pending().values_list("pk", "step_seq")[:50]]
        if not pending:
            return ran
        for kind, pk, seq in pending:
            engine.step_advance(kind=kind, object_id=pk, seq=seq)
            ran += 1
    raise AssertionError(f"pipeline did not settle after {max_steps} steps")


@pytest.fixture
def run_pipeline():
    return drain


def ledger_problems() -> list[str]:
    """Capacity invariants: used = sum of claims, used <= limits, no claim without a live instance."""
    from django.db.models import Count, Sum

    from provisioning.choices import LIVE_STATES
    from provisioning.models import Claim, Host

    problems = []
    sums = {
        row["host_id"]: row
        for row in Claim.objects.values("host_id").annotate(
            v=Sum("vcpus"), m=Sum("memory_mib"), d=Sum("disk_gib"), n=Count("id"))
    }
    for h in Host.objects.all():
        s = sums.get(h.pk, {"v": 0, "m": 0, "d": 0, "n": 0})
        if (h.vcpus_used, h.memory_mib_used, h.disk_gib_used, h.instances_used) != (s["v"], s["m"], s["d"], s["n"]):
            problems.append(f"{h.name}: used {h.vcpus_used}/{h.memory_mib_used}/{h.disk_gib_used}/{h.instances_used}"
                            f" != claims {s['v']}/{s['m']}/{s['d']}/{s['n']}")
        if h.vcpus_used > h.vcpus_limit or h.memory_mib_used > h.memory_mib_limit or h.disk_gib_used > h.disk_gib_limit:
            problems.append(f"{h.name}: above its limits")
    for c in Claim.objects.exclude(instance__state__in=LIVE_STATES).select_related("instance"):
        problems.append(f"claim of {c.instance.public_id} ({c.instance.state}) on host {c.host_id} should be gone")
    return problems
