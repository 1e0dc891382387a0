"""Odd input never gives a 500: bad filter values, bad page numbers, unknown ids."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", [
    "/?os_family=bogus", "/?architecture=arm&virt_mode=quantum", "/?page=abc", "/?page=-1", "/?q=%00",
])
def test_marketplace_odd_queries(client, catalog, url):
    assert client.get(url).status_code == 200


@pytest.mark.parametrize(("url", "status"), [
    ("/instances/?state=bogus", 200), ("/instances/?page=zz", 200),
    ("/instances/i-00000000000000000/", 404), ("/instances/i-00000000000000000/progress/", 404),
    ("/appliances/ubuntu-lamp/launch/quota/?instance_type=nope&count=x", 200),
    ("/appliances/nope/launch/", 404), ("/keypairs/key-0000/download/", 404),
])
def test_logged_in_odd_requests(web, catalog, url, status):
    assert web.get(url).status_code == status


def test_launch_post_garbage(web, catalog):
    response = web.post("/appliances/ubuntu-lamp/launch/", {"count": "many", "key_mode": "teleport"})
    assert response.status_code == 200 and "The request was not launched." in response.content.decode()
