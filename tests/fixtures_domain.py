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
def user(db):
    from tests.factories import user_factory

    return user_factory("alice", password="alice-pass-123")


@pytest.fixture
def other_user(db):
    from tests.factories import user_factory

    return user_factory("bob", password="bob-pass-123")


@pytest.fixture
def staff_user(db):
    from tests.factories import user_factory

    return user_factory("root", password="root-pass-123", staff=True)


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
