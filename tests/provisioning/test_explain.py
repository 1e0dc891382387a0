"""Every refusal explained per filter with numbers; the same words in the error and the event log."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from provisioning.exceptions import InsufficientCapacity
from provisioning.models import Appliance, Claim, Event, Host, Instance, InstanceType, Reservation
from provisioning.placement import PlacementRequest, dry_run, explain
from provisioning.services.quotas import quota_set
from tests.factories import NO_VT, VT, instance_factory

pytestmark = pytest.mark.django_db

EXPECTED = ("No host in sky-1a can take 8 vCPU / 32 GiB: 9 of 16 lack memory (largest free 24 GiB), "
            "4 are in maintenance, 3 lack VT-x/AMD-V (vmx/svm) for hardware-assisted mode.")


@pytest.fixture
def zone_of_16(host_factory, itype, user):
    """sky-1a: 9 VT-x hosts short of memory (the roomiest has 24 GiB free), 4 in maintenance
    (big enough), 3 big ones with VT-x off; sky-1b: one big host that would fit (out of scope)."""
    for i in range(9):
        host_factory(f"small-{i}", memory_gib=16 + (10 if i == 0 else 0))  # 2 GiB reserved: 24 / 14 GiB free
    for i in range(4):
        host_factory(f"maint-{i}", memory_gib=256, state="maintenance")
    for i in range(3):
        host_factory(f"novt-{i}", memory_gib=256, features=NO_VT)
    host_factory("other-zone", az="sky-1b", memory_gib=256, features=VT)
    itype("x8.32", 8, 32 * 1024, 50)
    quota_set(user=user, instances=50, vcpus=500, memory_mib=10**7)


def big_request(**kw) -> PlacementRequest:
    return PlacementRequest(appliance=Appliance.objects.get(slug="ubuntu-lamp"),
                            instance_type=InstanceType.objects.get(name="x8.32"),
                            availability_zone="sky-1a", virt_mode="hardware_assisted", **kw)


def test_explanation_counts_each_host_once_with_numbers(zone_of_16):
    e = explain(big_request())
    assert e["message"] == EXPECTED
    assert (e["hosts_total"], e["hosts_fit"], e["hosts_fleet"]) == (16, 0, 17)
    assert sum(r["hosts"] for r in e["refusals"]) == 16
    assert e["filters"] == {
        "host_state": ["4 are in maintenance"],
        "virtualization_mode": ["3 lack VT-x/AMD-V (vmx/svm) for hardware-assisted mode"],
        "memory": ["9 lack memory (largest free 24 GiB)"],
    }
    assert e["refusals"][0] == {"filter": "memory", "reason": "memory", "hosts": 9, "largest_free": 24 * 1024,
                                "text": "lack memory (largest free 24 GiB)"}


def test_a_host_refused_for_several_reasons_is_counted_by_the_first_filter(host_factory, itype):
    host_factory("tiny-and-in-maintenance", memory_gib=4, state="maintenance", features=NO_VT)
    itype("x8.32", 8, 32 * 1024, 50)
    e = explain(big_request())
    assert e["message"] == "No host in sky-1a can take 8 vCPU / 32 GiB: 1 of 1 is in maintenance."


def test_refusal_reaches_the_error_and_the_event_log_word_for_word(zone_of_16, user):
    with pytest.raises(InsufficientCapacity) as err:
        instance_factory(user, instance_type="x8.32", availability_zone="sky-1a", virt_mode="hardware_assisted")
    assert err.value.message == EXPECTED
    assert err.value.status == 409 and err.value.as_dict()["explanation"]["filters"]["memory"]
    event = Event.objects.get(action="request.refused")
    assert event.message == EXPECTED and event.level == "error" and event.owner == user
    assert event.data["explanation"]["refusals"][0]["hosts"] == 9
    assert (Instance.objects.count(), Claim.objects.count(), Reservation.objects.count()) == (0, 0, 0)


def test_min_count_shortfall_says_how_many_fit(host_factory, itype, user):
    host_factory("only", threads=4, cpu_ratio=1.0)  # room for two 2-vCPU guests
    quota_set(user=user, instances=50, vcpus=500, memory_mib=10**7)
    with pytest.raises(InsufficientCapacity) as err:
        instance_factory(user, 3, appliance="debian-12")
    assert err.value.message == ("Only 2 of the minimum 3 instances fit. No host can take 2 vCPU / 2 GiB: "
                                 "1 of 1 lacks vCPUs (largest free 0 vCPU).")
    assert Event.objects.get(action="request.refused").message == err.value.message
    assert Instance.objects.count() == 0 and Host.objects.get().vcpus_used == 0


def test_an_empty_zone_says_so(host_factory, itype):
    host_factory("b", az="sky-1b")
    itype("x8.32", 8, 32 * 1024, 50)
    assert explain(big_request())["message"] == \
        "No host in sky-1a can take 8 vCPU / 32 GiB: there are no hosts in sky-1a."


def test_dry_run_is_a_clean_json_dict_and_claims_nothing(zone_of_16):
    host_factory_big = Host.objects.get(name="other-zone")
    result = dry_run(big_request())
    assert result["chosen"] is None and result["candidates"] == []
    assert result["explanation"]["message"] == EXPECTED
    result = dry_run(PlacementRequest(appliance=Appliance.objects.get(slug="ubuntu-lamp"),
                                      instance_type=InstanceType.objects.get(name="x8.32"),
                                      virt_mode="hardware_assisted"))
    assert json.loads(json.dumps(result)) == result
    assert result["chosen"] == host_factory_big.name and result["virt_mode"] == "hardware_assisted"
    first = result["candidates"][0]
    assert set(first) == {"rank", "host", "availability_zone", "virt_mode", "weight", "weights", "free"}
    assert first["free"]["memory_mib"] == 254 * 1024
    assert result["explanation"]["summary"].startswith("1 of 17 hosts can take 8 vCPU / 32 GiB; of the others, ")
    # A what-if that finds a host reports no refusal (the QA pass saw "No host can take ..." here).
    assert result["explanation"]["message"] == result["explanation"]["summary"]
    assert result["request"]["instance_type"] == "x8.32"
    assert Claim.objects.count() == 0


def test_placement_dry_run_command(zone_of_16):
    out = io.StringIO()
    call_command("placement_dry_run", "--appliance", "ubuntu-lamp", "--instance-type", "x8.32",
                 "--availability-zone", "sky-1a", "--virt-mode", "hardware_assisted", stdout=out)
    text = out.getvalue()
    assert EXPECTED in text and "refused by memory: 9 lack memory (largest free 24 GiB)" in text
    out = io.StringIO()
    call_command("placement_dry_run", "--appliance", "ubuntu-lamp", "--instance-type", "x8.32",
                 "--virt-mode", "hardware_assisted", "--json", stdout=out)
    assert json.loads(out.getvalue())["chosen"] == "other-zone"


def test_cpu_refusal_reasons_have_readable_keys(host_factory):
    """API clients read `reason`: a CPU-class refusal names the class, not an internal code."""
    host_factory("no-vt", features=NO_VT)
    e = explain(PlacementRequest(appliance=Appliance.objects.get(slug="ubuntu-lamp"),
                                 instance_type=InstanceType.objects.get(name="t3.small"),
                                 virt_mode="hardware_assisted"))
    assert [(r["filter"], r["reason"]) for r in e["refusals"]] == [("virtualization_mode", "cpu_64bit_no_vt")]
