"""`host_update`: the one way a host's settings change; checked under the row lock, logged with a reason."""
from __future__ import annotations

import pytest

from provisioning.exceptions import InvalidRequest
from provisioning.models import Event, Host
from provisioning.services.claims import ledger_audit
from provisioning.services.hosts import host_update
from tests.factories import instance_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy(catalog, user) -> Host:
    instance_factory(user, 3, min_count=1)
    return Host.objects.filter(instances_used__gt=0).order_by("-instances_used").first()


def test_every_setting_that_would_go_below_the_claims_is_named_at_once(busy):
    with pytest.raises(InvalidRequest) as err:
        host_update(actor="ops", host=busy, memory_mib=1024, max_instances=0, cpu_allocation_ratio=0.01)
    assert set(err.value.errors) == {"memory_mib", "max_instances", "cpu_allocation_ratio"}
    assert "but instances on" in err.value.errors["memory_mib"][0]
    fresh = Host.objects.get(pk=busy.pk)
    assert (fresh.memory_mib, fresh.max_instances) == (busy.memory_mib, busy.max_instances)
    assert not Event.objects.filter(host=busy, action__startswith="host.").exists() and ledger_audit() == []


def test_a_change_is_logged_with_who_what_and_from_what(busy):
    host = host_update(actor="ops", host=busy, cpu_allocation_ratio=2.0, max_instances=150)
    assert host.vcpus_limit == host.pcpus * 2
    event = Event.objects.get(host=busy, action__startswith="host.")
    assert (event.action, event.actor) == ("host.update", "ops")
    assert event.data["changes"] == {"cpu_allocation_ratio": [4.0, 2.0], "max_instances": [busy.max_instances, 150]}


def test_the_hypervisor_changes_only_under_no_guest(busy):
    """An upgrade under running guests would strand them (they could not live-migrate to an older
    host); the maintenance service empties the host first, then upgrades it."""
    old = busy.hypervisor_version
    with pytest.raises(InvalidRequest) as err:
        host_update(actor="ops", host=busy, hypervisor_version="9.0", max_instances=150)
    assert "enter maintenance first" in err.value.errors["hypervisor_version"][0]
    assert Host.objects.get(pk=busy.pk).hypervisor_version == old
    idle = Host.objects.filter(instances_used=0).first()
    with pytest.raises(InvalidRequest) as err:
        host_update(actor="ops", host=idle, hypervisor_version="latest")
    assert "such as 7.0.4" in err.value.errors["hypervisor_version"][0]
    assert host_update(actor="ops", host=idle, hypervisor_version="9.0").hypervisor_version == "9.0"


def test_a_setting_left_as_it_was_writes_no_event(busy):
    host_update(actor="ops", host=busy, max_instances=busy.max_instances)
    assert not Event.objects.filter(host=busy, action__startswith="host.").exists()


def test_disable_needs_a_reason_and_enable_logs_one(busy):
    with pytest.raises(InvalidRequest) as err:
        host_update(actor="ops", host=busy, state="disabled")
    assert "Say why" in err.value.errors["reason"][0]
    host_update(actor="ops", host=busy, state="disabled", reason="NIC flapping")
    host_update(actor="ops", host=busy, state="enabled", reason="NIC replaced")
    logged = Event.objects.filter(host=busy, action__startswith="host.").order_by("id")
    assert list(logged.values_list("action", "data__reason")) == [
        ("host.disable", "NIC flapping"), ("host.enable", "NIC replaced")]


def test_a_host_with_guests_is_not_put_in_maintenance_by_hand(busy):
    with pytest.raises(InvalidRequest) as err:
        host_update(actor="ops", host=busy, state="maintenance")
    assert "maintenance service" in err.value.errors["state"][0]
    idle = Host.objects.filter(instances_used=0).first()
    assert host_update(actor="ops", host=idle, state="maintenance").state == "maintenance"


def test_unknown_or_derived_settings_are_refused(busy):
    with pytest.raises(InvalidRequest) as err:
        host_update(actor="ops", host=busy, vcpus_used=0, colour="red")
    assert set(err.value.errors) == {"vcpus_used", "colour"}
    with pytest.raises(InvalidRequest) as err:
        host_update(actor="ops", host=busy, state="on fire")
    assert "state" in err.value.errors
