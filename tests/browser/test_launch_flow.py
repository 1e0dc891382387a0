"""End to end in headless Chromium: log in, search, launch with a new key pair, see it run.

A real Celery worker on a real Redis broker drives the pipeline (SKYPORT_SIM_SPEED=0); the page
follows it only through htmx polling. Screenshots go to var/test-artifacts/ for a human to look at.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from provisioning.models import Instance, KeyPair

pytestmark = [pytest.mark.browser, pytest.mark.celery]


def _artifacts() -> Path:
    path = Path(settings.VAR_DIR) / "test-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_user_launches_an_appliance_and_gets_credentials(browser_page, celery_worker, catalog, user):
    from playwright.sync_api import expect

    page = browser_page
    out = _artifacts()

    # Log in.
    page.goto("/login/?next=/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Signed in as")).to_contain_text("alice")
    expect(page.get_by_role("heading", name="Appliance marketplace")).to_be_visible()
    page.screenshot(path=str(out / "marketplace.png"), full_page=True)

    # Search the marketplace: htmx swaps the results and pushes the URL.
    page.get_by_role("searchbox", name="Search").fill("lamp")
    expect(page).to_have_url(re.compile(r"[?&]q=lamp"))
    cards = page.locator("#results .app-card")
    expect(cards).to_have_count(1)
    expect(page.locator("#result-count")).to_contain_text("1 of")
    page.screenshot(path=str(out / "marketplace-search.png"), full_page=True)

    # Open the appliance, then its launch form.
    cards.get_by_role("link", name="Ubuntu LAMP").click()
    expect(page.get_by_role("heading", name="Ubuntu LAMP", exact=True)).to_be_visible()
    expect(page.get_by_text("Minimum requirements")).to_be_visible()
    page.get_by_role("link", name="Launch instance").first.click()
    expect(page.get_by_role("heading", name="Launch Ubuntu LAMP")).to_be_visible()

    # Choosing a type and count updates the quota panel live.
    page.get_by_label("Instance type").select_option("t3.medium")
    page.get_by_label("Number of instances").fill("30")
    expect(page.locator("#quota")).to_contain_text("Quota exceeded — instances: limit 10")
    page.get_by_label("Number of instances").fill("1")
    expect(page.locator("#quota")).to_contain_text("1 × t3.medium fits")

    page.get_by_label("Name", exact=True).fill("web-1")
    page.get_by_label("Create a new key pair").check()
    page.get_by_label("New key pair name").fill("alice-laptop")
    page.screenshot(path=str(out / "launch-form.png"), full_page=True)
    page.get_by_role("button", name="Launch", exact=True).click()

    # The instance page: the private key is shown once, with a one-time download.
    expect(page).to_have_url(re.compile(r"/instances/i-[0-9a-f]{17}/$"))
    expect(page.locator("pre.pem")).to_contain_text("BEGIN OPENSSH PRIVATE KEY")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"Download alice-laptop\.pem")).click()
    download = info.value
    assert download.suggested_filename == "alice-laptop.pem"
    assert "BEGIN OPENSSH PRIVATE KEY" in Path(download.path()).read_text()

    # htmx polling follows the pipeline until the instance runs, then stops.
    expect(page.locator("#state-badge")).to_have_text("running", timeout=90_000)
    expect(page.locator("#progress-status")).to_have_text("Finished")
    expect(page.locator("ol.steps li.done")).to_have_count(5)
    inst = Instance.objects.get(owner=user)
    assert inst.state == "running" and inst.key_name == "alice-laptop"
    assert KeyPair.objects.filter(owner=user, name="alice-laptop").count() == 1
    expect(page.locator("#login-user")).to_have_text("ubuntu")
    expect(page.locator("#connect-cmd")).to_have_text(f"ssh -i alice-laptop.pem ubuntu@{inst.private_ip}")
    expect(page.locator("pre.console")).to_contain_text(inst.hostname)
    page.screenshot(path=str(out / "instance-running.png"), full_page=True)

    # The private key has gone from the session: no notice on reload, and the link is dead.
    page.reload()
    expect(page.locator(".key-notice")).to_have_count(0)
    response = page.request.get(f"/keypairs/{KeyPair.objects.get(owner=user).public_id}/download/")
    assert response.status == 410

    # My instances lists it as running with its quick actions.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My instances").click()
    row = page.locator(f"#row-{inst.public_id}")
    expect(row).to_contain_text("running")
    expect(row.get_by_role("button", name=f"Stop {inst.public_id}")).to_be_visible()
    page.screenshot(path=str(out / "my-instances.png"), full_page=True)
