"""The Content-Security-Policy breaks nothing: every page, htmx and Swagger UI run with no violation."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pages_htmx_and_swagger_ui_run_under_the_policy(browser_page, catalog, user, staff_user):
    from playwright.sync_api import expect

    page = browser_page
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)

    page.goto("/login/?next=/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Signed in as")).to_contain_text("alice")
    # htmx live search (a swapped fragment and a pushed URL) works under the policy
    page.get_by_role("searchbox", name="Search").fill("lamp")
    expect(page.locator("#results .app-card")).to_have_count(1)
    for path in ("/appliances/ubuntu-lamp/", "/appliances/ubuntu-lamp/launch/", "/instances/", "/keypairs/",
                 "/no-such-page/"):
        page.goto(path)
    page.goto("/appliances/ubuntu-lamp/launch/")
    page.get_by_label("Number of instances").fill("30")
    expect(page.locator("#quota")).to_contain_text("Quota exceeded")  # the htmx quota panel

    # Swagger UI: its start-up script is a file, and it renders the operations from the schema
    page.goto("/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("/api/v1/instances/", exact=True).first).to_be_visible()

    # the admin, as staff
    page.context.clear_cookies()
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("root-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Recent actions")).to_be_visible()
    page.goto("/admin/provisioning/host/")
    page.goto("/admin/placement/dry-run/")
    assert violations == []
