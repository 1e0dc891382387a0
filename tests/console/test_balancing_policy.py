"""The balancing policy from the console: the policy in force and who set it, the form (htmx and plain),
the confirmation before automatic, refusals shown on the form, staff only, CSRF."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from provisioning.models import BalancingPolicy, Event, Migration

from .conftest import guests_on

pytestmark = pytest.mark.django_db

URL = "/console/balancing/policy/"
HX = {"HTTP_HX_REQUEST": "true"}


def _stored() -> tuple[str, int, str] | None:
    p = BalancingPolicy.objects.first()
    return (p.mode, p.threshold, p.updated_by) if p else None


def test_the_page_shows_the_policy_and_who_set_it(staff, catalog):
    body = staff.get("/console/balancing/").content.decode()
    assert 'id="balancing-policy"' in body and 'id="policy-form"' in body and "csrfmiddlewaretoken" in body
    assert "default from <code>SKYPORT_BALANCING</code>" in body
    assert re.search(r'<input type="radio" name="mode" value="manual"[^>]* checked>', body)
    r = staff.post(URL, {"mode": "manual", "threshold": "4"}, follow=True)
    body = r.content.decode()
    assert "root changed the balancing policy: threshold level 3 → 4." in body
    assert _stored() == ("manual", 4, "root")
    assert "set by <strong>root</strong>" in body and "threshold level <strong>4</strong>" in body
    assert "Threshold level 4 tolerates" in body  # the recommendations follow the stored level
    preview = staff.get("/console/balancing/?threshold=2").content.decode()
    assert "a preview: the policy's level is 4" in preview and "Back to level 4" in preview


def test_switching_to_automatic_is_confirmed_first_with_what_would_move(staff, catalog, user):
    guests_on(user, "hv-01", 16)
    ask = staff.post(URL, {"mode": "automatic", "threshold": "3"})
    body = ask.content.decode()
    assert ask.status_code == 200 and "Switch the balancer to automatic?" in body
    assert "Every 5 min the balancer will start the recommended live migrations by itself" in body
    assert "move(s): the imbalance would go from" in body and "hv-01 →" in body
    assert _stored() is None and not Event.objects.filter(action="balancing.policy_changed").exists()
    done = staff.post(URL, {"mode": "automatic", "threshold": "3", "confirm": "yes"}, follow=True)
    assert "mode manual → automatic" in done.content.decode()
    assert _stored() == ("automatic", 3, "root") and Migration.objects.count() == 0  # the beat moves, not the form
    event = Event.objects.get(action="balancing.policy_changed")
    assert event.data == {"before": {"mode": "manual", "threshold": 3}, "after": {"mode": "automatic", "threshold": 3}}
    back = staff.post(URL, {"mode": "manual", "threshold": "3"})  # back to manual: no question asked
    assert back.status_code == 302 and _stored() == ("manual", 3, "root")


def test_htmx_gets_the_card_the_confirmation_then_a_redirect(staff, catalog):
    card = staff.post(URL, {"mode": "automatic", "threshold": "5"}, **HX)
    body = card.content.decode()
    assert card.status_code == 200 and "<html" not in body and 'id="balancing-policy"' in body
    assert "Yes, switch to automatic" in body and 'name="confirm" value="yes"' in body and _stored() is None
    assert "Right now nothing would move" in body
    saved = staff.post(URL, {"mode": "automatic", "threshold": "5", "confirm": "yes"}, **HX)
    assert saved.status_code == 200 and saved["HX-Redirect"] == "/console/balancing/"
    assert _stored() == ("automatic", 5, "root")
    page = staff.get("/console/balancing/").content.decode()
    assert "The balancer applies its recommendations by itself" in page and "mode manual → automatic" in page


@pytest.mark.parametrize("data", [{"mode": "sometimes", "threshold": "3"}, {"mode": "manual", "threshold": "9"},
                                  {"mode": "manual"}, {}])
def test_bad_input_is_shown_on_the_form_and_changes_nothing(staff, catalog, data):
    card = staff.post(URL, data, **HX)
    assert card.status_code == 200 and 'class="errorlist' in card.content.decode()
    page = staff.post(URL, data)
    assert page.status_code == 400 and 'class="errorlist' in page.content.decode()
    assert 'class="console-nav"' in page.content.decode()
    assert _stored() is None and not Event.objects.exists()


def test_only_staff_with_a_csrf_token_may_change_it(staff_user, tenant, client, catalog):
    assert tenant.post(URL, {"mode": "automatic", "threshold": "5", "confirm": "yes"}).status_code == 403
    anon = client.post(URL, {"mode": "automatic", "threshold": "5", "confirm": "yes"})
    assert anon.status_code == 302 and anon["Location"].startswith("/login/?next=/console/")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user)
    assert strict.post(URL, {"mode": "automatic", "threshold": "5", "confirm": "yes"}).status_code == 403
    assert strict.get(URL).status_code == 405
    assert _stored() is None
