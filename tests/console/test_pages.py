"""Every console page and partial: staff get it, a tenant is refused (403), an anonymous visitor is sent
to the login page; the query count of each page stays the same when the fleet grows from 10 to 200 hosts."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from provisioning.models import Host, Instance, Migration

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def console_urls() -> list[tuple[str, dict]]:
    """(url, extra headers) of every console page and htmx partial, for the fleet in the database."""
    host = Host.objects.order_by("name").first()
    inst = Instance.objects.filter(state="running").order_by("public_id").first()
    mig = Migration.objects.order_by("id").first()
    draining = Host.objects.get(state="entering_maintenance")
    return [
        ("/console/", {}), ("/console/", HX),
        ("/console/hosts/", {}), ("/console/hosts/?state=enabled&sort=-memory", HX),
        (f"/console/hosts/{host.name}/", {}),
        ("/console/instances/", {}), ("/console/instances/?state=running", HX),
        (f"/console/instances/{inst.public_id}/", {}), (f"/console/instances/{inst.public_id}/migrate/", {}),
        ("/console/migrations/", {}), ("/console/migrations/?status=accepted", HX),
        (f"/console/migrations/{mig.public_id}/", {}), (f"/console/migrations/{mig.public_id}/", HX),
        ("/console/maintenance/", {}), (f"/console/hosts/{host.name}/maintenance/", {}),
        (f"/console/hosts/{draining.name}/maintenance/", {}), (f"/console/hosts/{draining.name}/maintenance/", HX),
        ("/console/balancing/", {}), ("/console/balancing/?threshold=5", {}),
        ("/console/placement/", {}), ("/console/placement/?appliance=ubuntu-22-04&instance_type=t3.small", {}),
    ]


def test_staff_get_every_page_and_partial(staff, small_fleet):
    for url, headers in console_urls():
        r = staff.get(url, **headers)
        assert r.status_code == 200, url
        body = r.content.decode()
        if headers:
            assert "<html" not in body, f"{url}: an htmx request gets the fragment alone"
        else:
            assert 'class="console-nav"' in body, url


def test_a_tenant_is_refused_everywhere(tenant, small_fleet):
    for url, headers in console_urls():
        assert tenant.get(url, **headers).status_code == 403, url


def test_anonymous_visitors_go_to_the_login_page(client, small_fleet):
    for url, headers in console_urls():
        r = client.get(url, **headers)
        assert r.status_code == 302 and r["Location"].startswith("/login/?next=/console/"), url


def test_the_header_links_the_console_for_staff_only(staff, tenant, catalog):
    assert 'id="console-link"' in staff.get("/").content.decode()
    assert 'id="console-link"' not in tenant.get("/").content.decode()


# Answers to a POST that render a page or a partial: the confirmations (a page, or the policy card for
# htmx), each computing the balancing plan before anything moves, and the policy card with its errors.
POSTED = [
    ("/console/balancing/apply/", {}, {}),
    ("/console/balancing/policy/", {"mode": "automatic", "threshold": "5"}, {}),
    ("/console/balancing/policy/", {"mode": "automatic", "threshold": "5"}, HX),
    ("/console/balancing/policy/", {"mode": "sometimes", "threshold": "5"}, HX),
]


def _queries(client: Client, url: str, headers: dict, data: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url, **headers) if data is None else client.post(url, data, **headers)
        assert r.status_code == 200, url
    return len(ctx.captured_queries)


def _counts(client: Client, urls: list[tuple[str, dict]]) -> dict[str, int]:
    counts = {f"GET {url} {h}": _queries(client, url, h) for url, h in urls}
    counts.update({f"POST {url} {data} {h}": _queries(client, url, h, data) for url, data, h in POSTED})
    return counts


def test_query_counts_do_not_grow_with_the_fleet(staff, small_fleet):
    """Every page, partial and POSTed confirmation, the balancing ones included (the balancer's search reads the
    fleet in a fixed number of statements whatever its size or loads)."""
    from provisioning.fixtures.fleet import fleet_build
    from provisioning.services.balancing import balancing_recommend

    urls = console_urls()  # the small fleet's objects, asked again once the fleet is 20 times larger
    small = _counts(staff, urls)
    fleet_build(hosts=190, instances=600, prefix="lg", seed=4)
    assert Host.objects.count() == 200
    assert balancing_recommend(threshold=5).recommendations  # the large fleet has moves to weigh
    large = _counts(staff, urls)
    assert large == small
