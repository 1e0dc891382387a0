"""Idempotency-Key on the create endpoints: replay, mismatch, retry after a refusal, concurrency."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from provisioning.models import Host, IdempotencyRecord, Instance, Reservation
from provisioning.services import idempotency
from provisioning.services.claims import ledger_audit
from provisioning.services.launch import launch_fingerprint

BODY = {"appliance": "debian-12", "instance_type": "t3.nano", "name": "idem"}


def post(api, path, body, key):
    return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/instances/", "/api/v1/reservations/"])
def test_same_key_same_body_replays_the_original(catalog, api, path):
    first = post(api, path, BODY, "key-1")
    assert first.status_code == 202 and "Idempotent-Replayed" not in first
    again = post(api, path, dict(reversed(list(BODY.items()))), "key-1")  # key order does not matter
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.data["id"] == first.data["id"]
    assert Reservation.objects.count() == 1 and Instance.objects.count() == 1
    other = post(api, path, BODY, "key-2")
    assert other.status_code == 202 and other.data["id"] != first.data["id"]
    assert Reservation.objects.count() == 2


@pytest.mark.django_db
def test_replay_shows_the_current_state_with_the_same_ids(catalog, api):
    from tests.fixtures_domain import drain

    first = post(api, "/api/v1/reservations/", {**BODY, "max_count": 2}, "k")
    drain()
    again = post(api, "/api/v1/reservations/", {**BODY, "max_count": 2}, "k")
    assert [i["id"] for i in again.data["instances"]] == [i["id"] for i in first.data["instances"]]
    assert {i["state"] for i in again.data["instances"]} == {"running"}


@pytest.mark.django_db
def test_same_key_different_body_is_422(catalog, api):
    post(api, "/api/v1/instances/", BODY, "key-1")
    resp = post(api, "/api/v1/instances/", {**BODY, "instance_type": "t3.micro"}, "key-1")
    assert resp.status_code == 422 and resp.data["code"] == "idempotency_key_reused"
    assert "key-1" in resp.data["detail"] and "different" in resp.data["detail"]
    assert Reservation.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_user_and_per_endpoint(catalog, api, api_other):
    a = post(api, "/api/v1/instances/", BODY, "shared")
    b = post(api_other, "/api/v1/instances/", BODY, "shared")
    c = post(api, "/api/v1/reservations/", BODY, "shared")
    assert {a.status_code, b.status_code, c.status_code} == {202}
    assert "Idempotent-Replayed" not in b and "Idempotent-Replayed" not in c
    assert Reservation.objects.count() == 3


@pytest.mark.django_db
def test_a_refused_launch_frees_the_key(catalog, api):
    Host.objects.update(state="maintenance")
    refused = post(api, "/api/v1/instances/", BODY, "retry-me")
    assert refused.status_code == 409
    assert not IdempotencyRecord.objects.exists()
    Host.objects.update(state="enabled")
    ok = post(api, "/api/v1/instances/", BODY, "retry-me")
    assert ok.status_code == 202 and "Idempotent-Replayed" not in ok
    bad = post(api, "/api/v1/instances/", {**BODY, "instance_type": "t9.none"}, "other")
    assert bad.status_code == 400 and "instance_type" in bad.data
    fixed = post(api, "/api/v1/instances/", BODY, "other")
    assert fixed.status_code == 202 and Reservation.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key,words", [("", "empty"), ("x" * 256, "limit is 255"), ("caf\u00e9", "ASCII")])
def test_unusable_key_is_400(catalog, api, key, words):
    resp = post(api, "/api/v1/instances/", BODY, key)
    assert resp.status_code == 400 and words in resp.data["Idempotency-Key"][0]
    assert Reservation.objects.count() == 0


@pytest.mark.django_db
def test_expired_key_starts_afresh(catalog, api):
    first = post(api, "/api/v1/instances/", BODY, "old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    again = post(api, "/api/v1/instances/", {**BODY, "name": "new"}, "old")
    assert again.status_code == 202 and again.data["id"] != first.data["id"]


@pytest.mark.django_db
def test_record_without_result_is_409_in_progress(catalog, user, api, monkeypatch):
    """Only visible to a reader that sees an uncommitted-looking state; the API then says 'retry'."""
    monkeypatch.setattr(idempotency, "WAIT_S", 0.2)
    IdempotencyRecord.objects.create(owner=user, scope="instances", key="busy",
                                     request_hash=idempotency.body_hash(launch_fingerprint(**BODY)))
    resp = post(api, "/api/v1/instances/", BODY, "busy")
    assert resp.status_code == 409 and resp.data["code"] == "idempotency_key_in_progress"
    assert resp["Retry-After"] == "1"


def test_body_hash_is_canonical():
    assert idempotency.body_hash({"a": 1, "b": [1, 2]}) == idempotency.body_hash({"b": [1, 2], "a": 1})
    assert idempotency.body_hash({"a": 1}) != idempotency.body_hash({"a": "1"})


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/v1/reservations/"])
def test_twenty_concurrent_identical_requests_make_one_reservation(catalog, user, path):
    """Threads with their own database connections: SQLite serializes them, PostgreSQL races them."""
    n = 20
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(timeout=30)
            resp = post(client, path, {**BODY, "max_count": 2}, "same-key")
            results[i] = (resp.status_code, resp.data.get("id"), resp.get("Idempotent-Replayed"))
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = ("error", repr(exc), None)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None and r[0] == 202 for r in results), results
    assert len({r[1] for r in results}) == 1
    assert sum(1 for r in results if r[2] != "true") == 1  # exactly one did the work
    assert Reservation.objects.count() == 1
    assert Instance.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1
    assert ledger_audit() == []
