"""The operator console end to end in headless Chromium, on a live server with a real Celery worker.

Staff log in, open the fleet overview, start a live migration from a host page and watch it complete
with its round chart drawn and its downtime shown; put a host into maintenance from its page (the
preflight first) and see it reach `maintenance` with every guest running elsewhere; apply a balancing
recommendation. A tenant gets no console link and is refused on every
console address. Every console page is saved at 1366x900 and 390x844 under var/test-artifacts/console/
(the README's operator walk-through uses copies under docs/console/).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from provisioning.models import BalancingPolicy, Host, Instance, Migration
from provisioning.services.claims import ledger_audit
from provisioning.services.launch import instance_launch
from provisioning.services.quotas import quota_set
from tests.fixtures_runtime import wait_for

pytestmark = pytest.mark.browser

SIZES = {"wide": (1366, 900), "phone": (390, 844)}


def _out() -> Path:
    path = Path(settings.VAR_DIR) / "test-artifacts" / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(page, name: str) -> None:
    """The page at both sizes (full page), then back to the wide one."""
    for label, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(150)  # let the layout (and the chart's width) settle
        page.screenshot(path=str(_out() / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def guests_on(user, host: Host, n: int, itype: str = "t3.small", appliance: str = "ubuntu-lamp",
              name: str = "web") -> list[Instance]:
    """`n` running guests of `user` on `host` (the other hosts disabled while they are placed)."""
    quota_set(user=user, instances=1000, vcpus=10_000, memory_mib=100 * 1024 * 1024)
    others = list(Host.objects.exclude(pk=host.pk).filter(state="enabled").values_list("pk", flat=True))
    Host.objects.filter(pk__in=others).update(state="disabled")
    try:
        res = instance_launch(user=user, appliance=appliance, instance_type=itype, max_count=n, name=name)
    finally:
        Host.objects.filter(pk__in=others).update(state="enabled")
    ids = list(res.reservation.instances.values_list("pk", flat=True))
    wait_for(lambda: Instance.objects.filter(pk__in=ids, state="running").count() == n, timeout=120,
             message=f"{n} guests running on {host.name}")
    return list(Instance.objects.filter(pk__in=ids).order_by("public_id"))


def login(page, username: str, password: str) -> None:
    page.goto("/login/?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    from playwright.sync_api import expect

    expect(page.get_by_text("Signed in as")).to_contain_text(username)


@pytest.mark.celery
def test_staff_migrate_a_guest_from_the_console(browser_page, celery_worker, catalog, user, staff_user):
    from playwright.sync_api import expect

    page = browser_page
    violations: list[str] = []  # the Content-Security-Policy allows the vendored chart library, nothing inline
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    source = Host.objects.get(name="hv-01")
    Host.objects.filter(name__in=["hv-01", "hv-03"]).update(nic_mibps=80.0)  # a few rounds to chart
    guest = guests_on(user, source, 3)[0]
    guests_on(user, Host.objects.get(name="hv-05"), 12, itype="m5.large", appliance="debian-12", name="db")

    login(page, "root", "root-pass-123")
    page.get_by_role("link", name="Console").click()
    expect(page.get_by_role("heading", name="Fleet overview")).to_be_visible()
    expect(page.locator("#running-count")).to_have_text("15")
    shoot(page, "fleet")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Hosts").click()
    expect(page.locator("#host-table")).to_contain_text("hv-01")
    page.get_by_label("Zone").select_option("sky-1a")  # htmx swaps the table, the URL keeps the filter
    expect(page).to_have_url(re.compile(r"availability_zone=sky-1a"))
    expect(page.locator("#host-table")).not_to_contain_text("hv-02")
    page.get_by_role("link", name="Memory").click()  # sort by memory share, fullest first
    expect(page.locator("#host-table tbody tr").first).to_contain_text("hv-05")
    shoot(page, "hosts")

    page.locator("#host-table").get_by_role("link", name="hv-01").click()
    expect(page.locator("#guests tbody tr")).to_have_count(3)
    shoot(page, "host")
    page.get_by_role("link", name=f"Migrate {guest.public_id}").click()
    expect(page.get_by_role("heading", name=f"Live-migrate {guest.public_id}?")).to_be_visible()
    page.get_by_label("Destination").select_option("hv-03")
    page.get_by_role("button", name="Start live migration").click()

    mig = Migration.objects.get(instance=guest)
    expect(page).to_have_url(re.compile(rf"/console/migrations/{mig.public_id}/$"))
    expect(page.locator("#migration-status")).to_have_text("completed", timeout=90_000)
    expect(page.locator("#round-chart canvas").first).to_be_visible()
    mig.refresh_from_db()
    expect(page.locator("#round-chart")).to_have_attribute("data-drawn", str(mig.round))
    expect(page.locator("#downtime")).to_contain_text(f"{mig.downtime_ms:.0f} ms")
    expect(page.locator("#downtime")).to_contain_text(f"{mig.downtime_limit_ms:.0f} ms")
    expect(page.locator("#rounds tbody tr")).to_have_count(mig.round)
    assert mig.round >= 3 and Instance.objects.get(pk=guest.pk).host.name == "hv-03"
    shoot(page, "migration")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Migrations").click()
    expect(page.locator(f"#mig-{mig.public_id}")).to_contain_text("completed")
    shoot(page, "migrations")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Instances").click()
    expect(page.locator(f"#row-{guest.public_id}")).to_contain_text("hv-03")
    shoot(page, "instances")
    page.goto(f"/console/instances/{guest.public_id}/")
    shoot(page, "instance")
    page.goto("/console/placement/?appliance=ubuntu-22-04&instance_type=t3.small")
    expect(page.locator("#candidates tbody tr")).to_have_count(16)
    expect(page.locator("#candidate-note")).to_contain_text("at most 16")
    shoot(page, "placement")

    # Maintenance of hv-01: the preflight first (nothing moves), then enter, then watch it empty.
    page.goto("/console/hosts/hv-01/")
    page.get_by_role("link", name="Maintenance preflight…").click()
    expect(page.locator("#preflight tbody tr")).to_have_count(2)
    expect(page.locator("#preflight-summary")).to_contain_text("hv-01: 2 guest(s)")
    assert Host.objects.get(name="hv-01").state == "enabled"
    shoot(page, "maintenance-preflight")
    page.get_by_label("Reason").fill("BIOS update")
    page.get_by_role("button", name="Enter maintenance").click()
    expect(page.locator("#maintenance-status")).to_have_text("in maintenance", timeout=90_000)
    expect(page.locator("#maintenance-done")).to_contain_text("hv-01 is empty")
    host = Host.objects.get(name="hv-01")
    assert host.state == "maintenance" and host.instances_used == 0
    moved = Instance.objects.filter(owner=user, name__startswith="web")
    assert all(i.state == "running" and i.host_id != host.pk for i in moved), [(i.state, i.host_id) for i in moved]
    shoot(page, "maintenance")
    page.get_by_label("New hypervisor version").fill("7.1.0")
    page.get_by_role("button", name=re.compile("Upgrade from")).click()
    expect(page.locator(".messages")).to_contain_text("hv-01 now runs hypervisor 7.1.0")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Maintenance").click()
    expect(page.locator("#maintenances")).to_contain_text("in maintenance")
    shoot(page, "maintenance-list")

    # Balancing: hv-05 carries 12 guests, the rest of the fleet little; apply the first recommendation.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Balancing").click()
    first = page.locator("#recommendations tbody tr").first
    expect(first).to_contain_text("hv-05")
    shoot(page, "balancing")
    moved_id = first.get_attribute("id").removeprefix("rec-")
    first.get_by_role("button", name=f"Apply the move of {moved_id}").click()
    expect(page.locator(".messages")).to_contain_text("1 balancing migration(s) started")
    wait_for(lambda: Migration.objects.filter(instance__public_id=moved_id, status="completed").exists(),
             timeout=90, message=f"the balancing move of {moved_id}")
    assert Instance.objects.get(public_id=moved_id).host.name != "hv-05"

    # The policy: switch the balancer to automatic at level 4 (htmx asks first, in the card, showing what
    # would move), then see the policy in force and who set it.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Balancing").click()
    expect(page.locator("#policy-set-by")).to_contain_text("SKYPORT_BALANCING")
    policy = page.locator("#balancing-policy")
    policy.get_by_label("automatic: apply the recommendations by itself").check()
    policy.get_by_label("Threshold level").select_option("4")
    policy.get_by_role("button", name="Save policy").click()
    expect(policy.locator("#consequence")).to_contain_text("the balancer will start the recommended live migrations")
    assert page.url.endswith("/console/balancing/") and not BalancingPolicy.objects.exists()  # asked, not stored
    shoot(page, "balancing-confirm")
    policy.get_by_role("button", name="Yes, switch to automatic").click()
    expect(page.locator(".messages")).to_contain_text("root changed the balancing policy: mode manual → automatic, "
                                                      "threshold level 3 → 4.")
    expect(page.locator("#policy-set-by")).to_contain_text("set by root")
    expect(page.locator("#balancing-mode")).to_have_text("automatic")
    stored = BalancingPolicy.objects.get()
    assert (stored.mode, stored.threshold, stored.updated_by) == ("automatic", 4, "root")
    shoot(page, "balancing-policy")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Fleet").click()
    shoot(page, "fleet-after")
    assert ledger_audit() == []
    assert violations == []


def console_paths() -> list[str]:
    host = Host.objects.order_by("name").first()
    inst = Instance.objects.order_by("public_id").first()
    mig = Migration.objects.order_by("id").first()
    return ["/console/", "/console/hosts/", f"/console/hosts/{host.name}/", "/console/instances/",
            f"/console/instances/{inst.public_id}/", f"/console/instances/{inst.public_id}/migrate/",
            "/console/migrations/", f"/console/migrations/{mig.public_id}/", "/console/maintenance/",
            f"/console/hosts/{host.name}/maintenance/", "/console/balancing/", "/console/placement/"]


@pytest.mark.django_db(transaction=True)
def test_a_tenant_gets_no_console(browser_page, catalog, user, staff_user, run_pipeline):
    from playwright.sync_api import expect

    from provisioning.services.migrations import migration_start

    inst = instance_launch(user=user, appliance="ubuntu-lamp", instance_type="t3.small").reservation.instances.get()
    run_pipeline()
    migration_start(actor="root", instance=inst)
    page = browser_page
    login(page, "alice", "alice-pass-123")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Console")).to_have_count(0)
    for path in console_paths():
        response = page.goto(path)
        assert response.status == 403, path
        expect(page.get_by_role("link", name="Console")).to_have_count(0)
