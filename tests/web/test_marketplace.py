"""Marketplace: public browsing, search, filters, pagination, htmx fragments, appliance detail."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def cards(response) -> list[str]:
    return re.findall(r'<h3><a href="/appliances/([\w-]+)/">', response.content.decode())


def test_anonymous_users_browse_twelve_per_page(client, catalog):
    first = client.get("/")
    assert first.status_code == 200
    assert len(cards(first)) == 12
    body = first.content.decode()
    assert "<strong>16</strong> appliances" in body and "page 1 of 2" in body
    assert 'href="?page=2"' in body and 'aria-current="page">1<' in body
    second = client.get("/?page=2")
    assert len(cards(second)) == 4
    assert not set(cards(first)) & set(cards(second))
    assert client.get("/?page=99").status_code == 200  # out of range: the last page, not an error


@pytest.mark.parametrize(("query", "expected"), [
    ("q=lamp", {"ubuntu-lamp"}),
    ("q=ubuntu+mysql", {"mysql-8", "ubuntu-lamp", "wordpress"}),
    ("os_family=windows", {"windows-server-2003", "windows-server-2019"}),
    ("architecture=i386", {"windows-server-2003", "suse-sles-11-32", "ubuntu-14-04-32"}),
    ("virt_mode=container", {"nginx-alpine-container", "redis-container"}),
    ("category=database", {"postgresql-16", "mysql-8"}),
    ("os_family=linux&architecture=i386", {"suse-sles-11-32", "ubuntu-14-04-32"}),
])
def test_search_and_filters(client, catalog, query, expected):
    response = client.get(f"/?{query}")
    assert set(cards(response)) == expected
    assert f"<strong>{len(expected)}</strong> of 16" in response.content.decode()


def test_pagination_links_keep_the_filters(client, catalog):
    body = client.get("/?os_family=linux").content.decode()
    assert "page 1 of 2" in body
    assert 'href="?os_family=linux&amp;page=2"' in body


def test_empty_state_names_the_filters_and_offers_to_clear_them(client, catalog):
    body = client.get("/?q=zzzz&os_family=windows").content.decode()
    assert "No appliances match “zzzz”, OS Windows" in body
    assert 'href="/">Clear filters</a>' in body


def test_live_filtering_markup_and_fragment(client, catalog):
    page = client.get("/").content.decode()
    assert 'hx-trigger="input changed delay:300ms, change"' in page
    assert 'hx-push-url="true"' in page and 'hx-target="#results"' in page
    assert "/static/vendor/htmx-2.0.11/htmx.min.js" in page and "cdn" not in page.lower()
    fragment = client.get("/?q=windows", headers={"HX-Request": "true"})
    text = fragment.content.decode()
    assert "<html" not in text and "Windows Server 2019" in text
    assert set(cards(fragment)) == {"windows-server-2003", "windows-server-2019"}
    assert "HX-Request" in fragment["Vary"]
    assert '<p id="results-status" hx-swap-oob="innerHTML">2 appliances found for “windows”.</p>' in text
    # A boosted request or a history restore wants the whole page.
    for headers in ({"HX-Request": "true", "HX-Boosted": "true"},
                    {"HX-Request": "true", "HX-History-Restore-Request": "true"}):
        assert "<html" in client.get("/?q=windows", headers=headers).content.decode()


def test_vendored_assets_are_served(client):
    assert client.get("/static/vendor/htmx-2.0.11/htmx.min.js").status_code == 200
    assert client.get("/static/css/skyport.css").status_code == 200


def test_appliance_detail_shows_requirements_and_launch(client, catalog):
    from provisioning.models import Appliance

    app = Appliance.objects.get(slug="windows-server-2019")
    body = client.get("/appliances/windows-server-2019/").content.decode()
    for text in (app.public_id, "Minimum requirements", "4 GiB", "40 GiB", "10 GiB", "64-bit (x86_64)",
                 "IIS 10", "hardware-assisted (VT-x/AMD-V)", "full virtualization (binary translation)",
                 'href="/appliances/windows-server-2019/launch/"', "Administrator"):
        assert text in body, text
    assert client.get("/appliances/no-such-thing/").status_code == 404


def test_launching_requires_login(client, catalog):
    response = client.get("/appliances/ubuntu-lamp/launch/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/appliances/ubuntu-lamp/launch/"
