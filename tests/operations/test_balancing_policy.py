"""The balancer's stored policy (DRS's automation level and migration threshold): the setting is only its
initial default; one setter validates with messages that say what to fix and logs who changed what from
what to what; the recommendations and the beat tick read it."""
from __future__ import annotations

import pytest
from django.test import override_settings

from provisioning.exceptions import InvalidRequest
from provisioning.models import BalancingPolicy, Event, Migration
from provisioning.services.balancing import (
    balancing_policy,
    balancing_policy_set,
    balancing_recommend,
    balancing_tick,
)

from .conftest import pack

pytestmark = pytest.mark.django_db


def _setting(**values) -> override_settings:
    from django.conf import settings

    return override_settings(SKYPORT_BALANCING={**settings.SKYPORT_BALANCING, **values})


def test_the_setting_is_the_policy_until_staff_set_one():
    with _setting(mode="automatic", threshold=2):
        policy = balancing_policy()
        assert (policy.mode, policy.threshold, policy.updated_by) == ("automatic", 2, "")
        assert policy._state.adding and not BalancingPolicy.objects.exists()  # reading writes nothing
        balancing_policy_set(actor="root", threshold=4)
    with _setting(mode="manual", threshold=1):  # once stored, the setting no longer decides
        policy = balancing_policy()
        assert (policy.mode, policy.threshold, policy.updated_by) == ("automatic", 4, "root")
        assert policy.updated_at is not None


def test_a_change_is_logged_with_who_what_from_and_to():
    change = balancing_policy_set(actor="root", mode="automatic", threshold="5")
    assert change.changes == ["mode manual → automatic", "threshold level 3 → 5"]
    event = Event.objects.get(action="balancing.policy_changed")
    assert event.actor == "root" and event.message == change.message
    assert "root changed the balancing policy: mode manual → automatic, threshold level 3 → 5" in event.message
    assert event.data == {"before": {"mode": "manual", "threshold": 3}, "after": {"mode": "automatic", "threshold": 5}}
    only_mode = balancing_policy_set(actor="ops", mode="manual")
    assert only_mode.changes == ["mode automatic → manual"] and only_mode.policy.threshold == 5
    assert BalancingPolicy.objects.get().updated_by == "ops"


def test_setting_what_is_in_force_changes_nothing():
    balancing_policy_set(actor="root", threshold=2)
    again = balancing_policy_set(actor="bob", mode="manual", threshold=2)
    assert again.changes == [] and "Nothing changed" in again.message
    assert Event.objects.filter(action="balancing.policy_changed").count() == 1
    assert BalancingPolicy.objects.get().updated_by == "root"


@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"mode": "sometimes"}, "mode", "'sometimes' is not a balancing mode: choose manual"),
    ({"mode": ""}, "mode", "is not a balancing mode"),
    ({"threshold": 0}, "threshold", "a whole number from 1"),
    ({"threshold": 6}, "threshold", "not '6'"),
    ({"threshold": "three"}, "threshold", "not 'three'"),
    ({"threshold": 2.5}, "threshold", "a whole number"),
    ({"threshold": True}, "threshold", "a whole number"),
    ({}, "non_field_errors", "Say what to change"),
])
def test_bad_input_is_refused_with_a_message_and_changes_nothing(kwargs, field, words):
    with pytest.raises(InvalidRequest) as refused:
        balancing_policy_set(actor="root", **kwargs)
    assert words in refused.value.errors[field][0]
    assert not BalancingPolicy.objects.exists() and not Event.objects.exists()


def test_both_bad_fields_are_named_at_once():
    with pytest.raises(InvalidRequest) as refused:
        balancing_policy_set(actor="root", mode="auto", threshold=9)
    assert set(refused.value.errors) == {"mode", "threshold"}


def test_the_recommendations_read_the_stored_threshold(catalog, user):
    pack(user, "hv-01", 16)
    balancing_policy_set(actor="root", threshold=1)
    at_one = balancing_recommend(max_moves=20)
    balancing_policy_set(actor="root", threshold=5)
    at_five = balancing_recommend(max_moves=20)
    assert (at_one.threshold, at_five.threshold) == (1, 5)
    assert len(at_one.recommendations) < len(at_five.recommendations)
    assert at_five.policy["threshold"] == 5 and at_five.policy["updated_by"] == "root"
    assert balancing_recommend(threshold=1, max_moves=20).threshold == 1  # a preview overrides, stores nothing
    assert balancing_policy().threshold == 5


def test_a_manual_tick_only_recommends(catalog, user):
    pack(user, "hv-01", 12)
    with _setting(mode="automatic"):
        balancing_policy_set(actor="root", mode="manual")
        tick = balancing_tick()
    assert tick["mode"] == "manual" and "wait for staff" in tick["skipped"]
    assert tick["plan"]["recommendations"] and not Migration.objects.exists()


@pytest.mark.postgres
def test_two_staff_changing_it_at_once_are_serialised(transactional_db):
    """The second change waits for the first's lock on the row, then starts from what the first set: it
    neither undoes the first nor logs a "from" that was no longer in force."""
    import threading

    from django.db import connection, connections

    from tests.fixtures_runtime import wait_for
    from tests.kit import held_in_transaction

    second: dict = {}

    def bob() -> None:
        try:
            second["change"] = balancing_policy_set(actor="bob", threshold=5)
        finally:
            connections.close_all()

    def waiting_for_a_lock() -> bool:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            return cur.fetchone()[0] >= 1

    balancing_policy_set(actor="ops", threshold=2)  # the row exists: only its lock can order the two
    thread = threading.Thread(target=bob)
    with held_in_transaction(lambda: balancing_policy_set(actor="root", mode="automatic")):
        thread.start()
        wait_for(waiting_for_a_lock, timeout=30, message="bob's change to wait for root's lock")
    thread.join(timeout=60)
    assert second["change"].changes == ["threshold level 2 → 5"]
    policy = balancing_policy()
    assert (policy.mode, policy.threshold, policy.updated_by) == ("automatic", 5, "bob")
    logged = [e.data for e in Event.objects.filter(action="balancing.policy_changed").order_by("id")][1:]
    assert logged == [{"before": {"mode": "manual", "threshold": 2}, "after": {"mode": "automatic", "threshold": 2}},
                      {"before": {"mode": "automatic", "threshold": 2}, "after": {"mode": "automatic", "threshold": 5}}]
