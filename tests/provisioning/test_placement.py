"""Placement: each filter and weigher on a hand-built fleet, the simulator's mode matrix, query counts."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning import driver
from provisioning.choices import MODE_PREFERENCE
from provisioning.exceptions import InsufficientCapacity
from provisioning.fixtures.fleet import fleet_build
from provisioning.models import Appliance, Host, Instance, InstanceType, PlacementGroup
from provisioning.placement import PlacementRequest, candidates, explain
from provisioning.placement.filters import FILTERS
from provisioning.placement.scheduler import CANDIDATE_LIMIT, candidate_windows
from provisioning.placement.weighers import WEIGHERS
from provisioning.services.claims import ledger_audit
from provisioning.services.quotas import quota_set
from tests.factories import NO_VT, VT, instance_factory

pytestmark = pytest.mark.django_db


def preq(appliance: str = "ubuntu-lamp", itype: str = "t3.small", **kw) -> PlacementRequest:
    return PlacementRequest(appliance=Appliance.objects.get(slug=appliance),
                            instance_type=InstanceType.objects.get(name=itype), **kw)


def chosen(req: PlacementRequest) -> list[str]:
    return [p.host.name for p in candidates(req)]


@pytest.fixture
def roomy_quota(user):
    quota_set(user=user, instances=500, vcpus=5000, memory_mib=10**8)
    return user


# --------------------------------------------------------------------------- registries
def test_registries_are_small_named_classes_in_order():
    assert [f.name for f in FILTERS] == [
        "host_state", "availability_zone", "architecture", "virtualization_mode", "affinity", "anti_affinity",
        "memory", "vcpu", "disk", "max_instances", "exclude"]
    assert [w.name for w in WEIGHERS] == ["free_memory", "free_vcpu", "image_cache", "page_sharing", "soft_affinity"]
    assert all(cls.description for cls in FILTERS + WEIGHERS)


# --------------------------------------------------------------------------- filters
def test_host_state_skips_maintenance_disabled_and_down(host_factory):
    host_factory("ok")
    host_factory("maint", state="maintenance")
    host_factory("off", state="disabled")
    host_factory("dead", up=False)
    assert chosen(preq()) == ["ok"]
    texts = {r["text"]: r["hosts"] for r in explain(preq())["refusals"]}
    assert texts == {"is in maintenance": 1, "is disabled": 1, "is down": 1}


def test_availability_zone_scopes_placement_and_explanation(host_factory):
    host_factory("a1", az="sky-1a")
    host_factory("b1", az="sky-1b")
    host_factory("b2", az="sky-1b", state="maintenance")
    assert chosen(preq(availability_zone="sky-1b")) == ["b1"]
    e = explain(preq(availability_zone="sky-1b"))
    assert (e["hosts_total"], e["hosts_fit"], e["hosts_fleet"]) == (2, 1, 3)
    assert e["summary"] == "1 of 2 hosts in sky-1b can take 2 vCPU / 2 GiB; of the others, 1 is in maintenance."


def test_capacity_follows_allocation_ratios_and_reserved_memory(host_factory, itype, roomy_quota):
    # 4 threads x cpu ratio 2 = 8 vCPU; (10 GiB - 2 GiB reserved) x ram ratio 1.5 = 12 GiB.
    host = host_factory("h", threads=4, cpu_ratio=2.0, memory_gib=10, reserved_mib=2048, ram_ratio=1.5)
    assert (host.vcpus_limit, host.memory_mib_limit) == (8, 12 * 1024)
    itype("x4.4", 4, 4096)
    # EC2: as many as fit, up to max_count
    placed = instance_factory(roomy_quota, 5, min_count=1, instance_type="x4.4")
    assert len(placed) == 2  # vCPUs run out first (memory would take 3)
    with pytest.raises(InsufficientCapacity) as err:
        instance_factory(roomy_quota, instance_type="x4.4")
    assert err.value.message == "No host can take 4 vCPU / 4 GiB: 1 of 1 lacks vCPUs (largest free 0 vCPU)."
    itype("x1.5", 1, 5 * 1024)
    with pytest.raises(InsufficientCapacity, match=r"1 of 1 lacks memory \(largest free 4 GiB\)"):
        instance_factory(roomy_quota, instance_type="x1.5")
    assert ledger_audit() == []


def test_disk_and_max_instances_per_host(host_factory, itype, roomy_quota):
    host_factory("small-disk", disk_gib=30)
    host_factory("two-max", max_instances=2)
    itype("x1.d25", 1, 1024, 25)
    placed = instance_factory(roomy_quota, 4, min_count=1, instance_type="x1.d25")
    assert sorted(i.host.name for i in placed) == ["small-disk", "two-max", "two-max"]
    e = explain(preq(itype="x1.d25"))
    assert e["message"] == ("No host can take 1 vCPU / 1 GiB: 1 of 2 lacks disk space (largest free 5 GiB of disk), "
                            "1 is at its maximum number of instances.")


def test_hardware_assisted_needs_vt_x(host_factory):
    host_factory("vt", features=VT)
    host_factory("novt", features=NO_VT)
    assert chosen(preq(virt_mode="hardware_assisted")) == ["vt"]
    e = explain(preq(virt_mode="hardware_assisted"))
    assert e["refusals"][0]["text"] == "lacks VT-x/AMD-V (vmx/svm) for hardware-assisted mode"
    # Without a requested mode each host gets the fastest one both sides support.
    modes = {p.host.name: p.virt_mode for p in candidates(preq())}
    assert modes == {"vt": "hardware_assisted", "novt": "paravirtualization"}
    windows = {p.host.name: p.virt_mode for p in candidates(preq("windows-server-2019", "m5.large"))}
    assert windows == {"vt": "hardware_assisted", "novt": "binary_translation"}  # closed kernel: never PV


def test_containers_need_a_host_that_offers_them(host_factory):
    host_factory("vm-only", modes=["hardware_assisted", "paravirtualization"])
    assert chosen(preq("nginx-alpine-container", "t3.nano")) == []
    e = explain(preq("nginx-alpine-container", "t3.nano"))
    assert e["message"] == "No host can take 1 vCPU / 0.5 GiB: 1 of 1 does not offer container mode."
    host_factory("ct")
    assert [(p.host.name, p.virt_mode) for p in candidates(preq("nginx-alpine-container", "t3.nano"))] == \
        [("ct", "container")]


def test_architecture_x86_64_needs_a_64_bit_cpu(host_factory):
    host_factory("p4-32bit", features=("vmx",))
    assert chosen(preq()) == []
    assert explain(preq())["refusals"][0]["text"] == "lacks a 64-bit CPU (lm) for an x86_64 appliance"
    assert chosen(preq("ubuntu-14-04-32", "t3.small")) == ["p4-32bit"]  # i386 runs on any x86


def test_mode_filter_in_the_database_agrees_with_the_simulator(host_factory):
    """Every appliance x every CPU class x hosts offering all / some modes: the database filter
    and the chosen mode match the simulator's matrix (through the driver) exactly. On top of it the
    architecture filter is policy: the simulator would emulate an x86_64 guest on a 32-bit CPU, the
    scheduler does not place it there."""
    shapes = {"vt64": ("vmx", "ept", "lm"), "novt64": ("lm",), "vt32": ("vmx",), "novt32": ()}
    for name, feats in shapes.items():
        host_factory(f"{name}-all", features=feats)
        host_factory(f"{name}-few", features=feats, modes=["binary_translation", "container"])
    it = InstanceType.objects.get(name="m5.xlarge")
    for app in Appliance.objects.all():
        got = {p.host.name: p.virt_mode for p in candidates(PlacementRequest(appliance=app, instance_type=it))}
        for host in Host.objects.all():
            ok = [m for m in app.supported_modes
                  if m in host.supported_modes and driver.mode_check(host, app, it, m)[0]]
            want = min(ok, key=MODE_PREFERENCE.index) if ok else None
            if app.architecture == "x86_64" and not host.is_64bit:
                want = None
            assert got.get(host.name) == want, (app.slug, host.name, got.get(host.name), want)


def test_strict_anti_affinity_spreads_then_refuses_with_reason(host_factory, user):
    for i in range(3):
        host_factory(f"h{i}")
    PlacementGroup.objects.create(owner=user, name="web", strategy="anti-affinity", strict=True)
    # one transaction: its own members count too
    first = instance_factory(user, 2, min_count=1, placement_group="web")
    third = instance_factory(user, placement_group="web")
    assert len({i.host_id for i in first + third}) == 3
    with pytest.raises(InsufficientCapacity) as err:
        instance_factory(user, placement_group="web")
    assert err.value.message == ("No host can take 2 vCPU / 2 GiB: 3 of 3 already run an instance of placement "
                                 "group web (strict anti-affinity).")


def test_strict_affinity_keeps_the_group_on_one_host(host_factory, itype, roomy_quota):
    for i in range(3):
        host_factory(f"h{i}", threads=2, cpu_ratio=1.0)  # room for one 2-vCPU guest each
    itype("x1.1", 1, 1024)
    PlacementGroup.objects.create(owner=roomy_quota, name="db", strategy="affinity", strict=True)
    group = instance_factory(roomy_quota, 2, min_count=1, placement_group="db", instance_type="x1.1")
    assert len({i.host_id for i in group}) == 1
    with pytest.raises(InsufficientCapacity) as err:
        instance_factory(roomy_quota, placement_group="db", instance_type="x1.1")
    assert err.value.message == ("No host can take 1 vCPU / 1 GiB: 2 of 3 are not placement group db's host "
                                 "(strict affinity), 1 lacks vCPUs (largest free 0 vCPU).")


def test_soft_anti_affinity_prefers_other_hosts_but_does_not_refuse(host_factory, user):
    host_factory("h0")
    host_factory("h1")
    PlacementGroup.objects.create(owner=user, name="soft", strategy="anti-affinity", strict=False)
    placed = [instance_factory(user, placement_group="soft")[0] for _ in range(3)]
    assert len({i.host_id for i in placed[:2]}) == 2
    assert placed[2].host_id in {placed[0].host_id, placed[1].host_id}


def test_excluded_hosts_are_skipped_and_named(host_factory):
    a = host_factory("a")
    host_factory("b")
    assert chosen(preq(exclude_host_ids=[a.pk])) == ["b"]
    assert "1 was excluded by the caller" in explain(preq(exclude_host_ids=[a.pk]))["summary"]


def test_a_changed_appliance_changes_placement(host_factory):
    host_factory("novt", features=NO_VT)
    assert chosen(preq(virt_mode="paravirtualization")) == ["novt"]
    app = Appliance.objects.get(slug="ubuntu-lamp")
    app.supported_modes = ["hardware_assisted"]
    app.save()
    assert chosen(preq()) == []  # the compiled-SQL cache is keyed by what the SQL depends on


# --------------------------------------------------------------------------- weighers
def test_spread_by_default_stack_with_negative_multipliers(host_factory, user, settings):
    host_factory("busy")
    host_factory("empty")
    Host.objects.filter(name="empty").update(state="maintenance")
    instance_factory(user)  # lands on busy
    Host.objects.filter(name="empty").update(state="enabled")
    assert chosen(preq())[0] == "empty"
    settings.SKYPORT_WEIGHERS = {"free_memory": -1.0, "free_vcpu": -0.5}
    assert chosen(preq())[0] == "busy"


def test_image_cache_weigher_prefers_hosts_that_hold_the_image(host_factory, settings):
    host_factory("a")
    b = host_factory("b")
    b.cached_appliances.add(Appliance.objects.get(slug="ubuntu-lamp"))
    assert chosen(preq())[0] == "b"
    settings.SKYPORT_WEIGHERS = {"image_cache": 0}
    assert chosen(preq())[0] == "a"  # a tie without it: by name


def test_page_sharing_weigher_prefers_hosts_running_the_same_appliance(host_factory, user, settings):
    host_factory("a")
    host_factory("b")
    Host.objects.filter(name="a").update(state="maintenance")
    instance_factory(user, appliance="debian-12")  # on b
    Host.objects.filter(name="a").update(state="enabled")
    settings.SKYPORT_WEIGHERS = {"free_memory": 0, "free_vcpu": 0, "image_cache": 0, "page_sharing": 1.0}
    assert chosen(preq("debian-12"))[0] == "b"
    assert chosen(preq("ubuntu-lamp"))[0] == "a"


def test_candidate_window_is_bounded(host_factory):
    for i in range(CANDIDATE_LIMIT + 5):
        host_factory(f"h{i:02d}")
    assert len(candidates(preq())) == CANDIDATE_LIMIT


def test_candidate_windows_are_the_candidates_of_each_request_in_one_query(cloud_catalog, roomy_quota, monkeypatch):
    """The balancer's batch asks the same filters for the same window as `candidates`, one request each."""
    fleet_build(hosts=40, instances=80, prefix="win", seed=5)
    hosts = list(Host.objects.order_by("name").values_list("pk", flat=True))
    reqs = [preq(), preq("debian-12", "m5.large", availability_zone="sky-1a"), preq(exclude_host_ids=hosts[:5]),
            preq("debian-12", "m5.large", virt_mode="paravirtualization"), preq(availability_zone="nowhere"), preq()]
    with CaptureQueriesContext(connection) as ctx:
        windows = candidate_windows(reqs, limit=CANDIDATE_LIMIT + 3)
    assert len(ctx.captured_queries) == 1 and len(windows) == len(reqs)
    for req, rows in zip(reqs, windows, strict=True):
        assert {r.name for r in rows} == {p.row.name for p in candidates(req, limit=CANDIDATE_LIMIT + 3)}
    assert windows[4] == [] and len(windows[0]) == CANDIDATE_LIMIT + 3
    assert not {r.id for r in windows[2]} & set(hosts[:5])
    monkeypatch.setattr("provisioning.placement.scheduler.WINDOWS_PER_STATEMENT", 4)  # SQLite's compound limit
    with CaptureQueriesContext(connection) as ctx:
        chunked = candidate_windows(reqs, limit=CANDIDATE_LIMIT + 3)
    assert len(ctx.captured_queries) == 2
    assert [[r.name for r in rows] for rows in chunked] == [[r.name for r in rows] for rows in windows]


# --------------------------------------------------------------------------- constant query count
def _counts(user) -> tuple[int, int]:
    req = preq(availability_zone="sky-1a")
    with CaptureQueriesContext(connection) as decision:
        found = candidates(req)
    assert found
    with CaptureQueriesContext(connection) as request:
        instance_factory(user, availability_zone="sky-1a", placement_group="grp")
    return len(decision.captured_queries), len(request.captured_queries)


def test_queries_per_placement_do_not_grow_with_the_fleet(cloud_catalog, roomy_quota):
    PlacementGroup.objects.create(owner=roomy_quota, name="grp", strategy="anti-affinity", strict=True)
    fleet_build(hosts=8, instances=20, prefix="small")
    instance_factory(roomy_quota, availability_zone="sky-1a")  # first request creates the quota row and default group
    small = _counts(roomy_quota)
    fleet_build(hosts=400, instances=2000, prefix="large")
    assert Host.objects.count() == 408 and Instance.objects.count() > 2000
    large = _counts(roomy_quota)
    assert small == large
    assert small[0] == 1  # the decision is one query: filters, window and weighers together


def test_other_simulator_refusals_are_quoted(host_factory):
    host_factory("linux-host")
    Appliance.objects.create(slug="win-ct", name="Windows container", vendor="x", os_family="windows",
                             os_name="Windows Server", os_version="2022", architecture="x86_64", category="container",
                             image_size_mib=100, supported_modes=["container"], open_source_kernel=False)
    assert explain(preq("win-ct", "t3.small"))["message"] == (
        "No host can take 2 vCPU / 2 GiB: 1 of 1 cannot run it in container mode (a container shares the host "
        "kernel: guest OS family windows differs from host linux).")


def test_a_candidate_builds_the_same_host_the_database_holds(host_factory):
    """Decisions carry light rows; the chosen one becomes a Host model whose every field (loaded with
    the row or deferred) equals the stored host: claims and address allocation read it."""
    host_factory("a", az="sky-1b", threads=8)
    host_factory("b", memory_gib=128, max_instances=50)
    found = candidates(preq())
    assert [p.host_id for p in found] == [p.host.pk for p in found]
    for p in found:
        stored = Host.objects.get(pk=p.host_id)
        for f in Host._meta.concrete_fields:
            assert getattr(p.host, f.attname) == getattr(stored, f.attname), f.attname
        assert p.row.name == stored.name and p.row.network_cidr == stored.network_cidr


@pytest.mark.postgres
def test_placement_statements_are_planned_once_per_connection(host_factory, roomy_quota):
    """The candidate query and the claim are prepared on the connection (PostgreSQL plans them once);
    the candidate query carries its values, so its one plan is the specific plan."""
    host_factory("a")
    host_factory("b")
    instance_factory(roomy_quota)
    instance_factory(roomy_quota)
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cur.fetchall()]
    assert any("provisioning_host" in s and "LIMIT 16" in s and "$1" not in s for s in prepared), prepared
    assert any("INSERT INTO provisioning_claim" in s for s in prepared), prepared


@pytest.mark.postgres
def test_prepared_placement_survives_refusals_and_rollbacks(transactional_db, host_factory, user):
    """A refusal rolls the request back (and psycopg forgets its prepared statements then); the
    connection's next requests still place, through freshly prepared statements."""
    quota_set(user=user, instances=50, vcpus=500, memory_mib=10**7)
    host_factory("small", memory_gib=6, reserved_mib=2048)  # 4 GiB schedulable: two t3.small (2 GiB each)
    assert len(instance_factory(user)) == 1 and len(instance_factory(user)) == 1
    for _ in range(2):
        with pytest.raises(InsufficientCapacity):
            instance_factory(user)
    host_factory("big")
    for _ in range(3):
        assert instance_factory(user)[0].host.name == "big"
    assert ledger_audit() == []


@pytest.mark.postgres
def test_preparing_can_be_turned_off_for_transaction_poolers(host_factory, roomy_quota, settings):
    settings.SKYPORT_DB_PREPARE = False
    host_factory("a")

    def prepared() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_prepared_statements")
            return cur.fetchone()[0]

    before = prepared()
    assert instance_factory(roomy_quota) and instance_factory(roomy_quota)
    assert prepared() == before
