"""QA findings that only a browser shows: phone-width overflow, focus after a refused submit, Copy fallback.

No Celery here: the pipeline is driven inline (`drain`) and the page reads what it left.
"""
from __future__ import annotations

import pytest

from provisioning.models import Instance
from provisioning.pipeline import engine
from provisioning.services.keypairs import keypair_create
from tests.factories import running_instance_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.browser

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def inline_pipeline(monkeypatch):
    """Record dispatches instead of publishing them (no broker); `drain()` runs the steps."""
    monkeypatch.setattr(engine, "step_enqueue", lambda **kwargs: None)


def _log_in(page) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def test_no_page_is_wider_than_a_phone(browser_page, catalog, user, inline_pipeline):
    inst = running_instance_factory(user, appliance="debian-12", instance_type="t3.micro", name="web")
    keypair_create(user=user, name="a-rather-long-key-pair-name-for-a-phone", key_type="ed25519")
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    _log_in(page)
    for path in ["/", "/instances/", "/keypairs/", inst.get_absolute_url(), "/appliances/ubuntu-lamp/",
                 "/appliances/ubuntu-lamp/launch/"]:
        page.goto(path)
        assert page.evaluate(OVERFLOW) <= 0, f"{path} scrolls sideways at 390 px"


def test_a_refused_launch_takes_focus_to_the_error_summary(browser_page, catalog, user):
    from playwright.sync_api import expect

    page = browser_page
    _log_in(page)
    page.goto("/appliances/ubuntu-lamp/launch/")
    page.get_by_label("Number of instances").fill("0")
    page.get_by_label("No key pair (log in with a generated password)").check()
    page.get_by_role("button", name="Launch", exact=True).click()
    summary = page.locator("#form-errors")
    expect(summary).to_contain_text("Number of instances")
    expect(summary).to_be_focused()


def test_copy_without_the_clipboard_api_selects_the_text_and_says_so(browser_page, catalog, user, inline_pipeline):
    from playwright.sync_api import expect

    inst = running_instance_factory(user, appliance="debian-12", instance_type="t3.micro", name="web")
    page = browser_page
    # What a browser offers on plain http to a non-local address: no navigator.clipboard.
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined});")
    _log_in(page)
    page.goto(inst.get_absolute_url())
    command = page.locator("#connect-cmd")
    expect(command).to_have_text(f"ssh {inst.login_user}@{inst.private_ip}")
    button = page.locator('#credentials [data-copy="connect-cmd"]')
    button.click()
    expect(button).to_have_text("Selected: press Ctrl+C")
    assert page.evaluate("() => window.getSelection().toString().trim()") == command.inner_text().strip()


def test_the_launching_flash_goes_away_when_the_launch_has_finished(browser_page, catalog, user, inline_pipeline):
    from playwright.sync_api import expect

    page = browser_page
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _log_in(page)
    page.goto("/appliances/debian-12/launch/")
    page.get_by_label("No key pair (log in with a generated password)").check()
    page.get_by_role("button", name="Launch", exact=True).click()
    page.wait_for_url("**/instances/i-*/")
    inst = Instance.objects.get()
    flash = page.locator(f"#flash-{inst.public_id}")
    expect(flash).to_contain_text(f"Launching {inst.public_id}")
    page.wait_for_timeout(1500)  # a poll while still pending keeps it
    expect(flash).to_be_visible()
    drain()
    expect(page.locator("#progress-status")).to_have_text("Finished", timeout=5000)
    expect(flash).to_have_count(0)
    assert not [e for e in errors if "oob" in e.lower()], errors
