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


def _queries(client: Client, url: str, headers: dict) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **headers).status_code == 200, url
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_the_fleet(staff, small_fleet):
    from provisioning.fixtures.fleet import fleet_build

    urls = [(url, h) for url, h in console_urls() if not url.startswith("/console/balancing/")]
    small = {url + str(h): _queries(staff, url, h) for url, h in urls}
    fleet_build(hosts=190, instances=600, prefix="lg", seed=4)
    assert Host.objects.count() == 200
    large = {url + str(h): _queries(staff, url, h) for url, h in urls}
    assert large == small


def test_the_balancing_page_is_bounded_by_the_search_not_the_fleet(staff, small_fleet, settings):
    """The balancer's search looks at a fixed number of hosts and guests per move (its constants), so
    the page's queries are bounded by those, whatever the fleet's size; which moves it weighs depends
    on the loads, so the exact count is not the same from one fleet to the next."""
    from provisioning.fixtures.fleet import fleet_build
    from provisioning.services.balancing import GUESTS_PER_SOURCE, SOURCES_PER_PASS

    fleet_build(hosts=190, instances=600, prefix="lg", seed=4)
    moves = settings.SKYPORT_BALANCING["max_moves"]
    bound = 10 + moves * SOURCES_PER_PASS * (1 + 2 * GUESTS_PER_SOURCE)
    for level in (3, 5):
        assert _queries(staff, f"/console/balancing/?threshold={level}", {}) <= bound
