"""The web form and the REST API launch through the same service call, `instance_launch`."""
from __future__ import annotations

import importlib
from unittest import mock

import pytest
from django.urls import resolve

from provisioning.services.launch import instance_launch
from tests.web.conftest import launch_data

pytestmark = pytest.mark.django_db


def _spy(path: str, method: str = "GET"):
    """Wrap `instance_launch` where the view that serves `path` looks it up (wherever that module moves)."""
    match = resolve(path)
    view = getattr(match.func, "cls", None) or match.func
    module = importlib.import_module(view.__module__)
    assert hasattr(module, "instance_launch"), f"{view.__module__} does not call instance_launch"
    return mock.patch.object(module, "instance_launch", wraps=instance_launch)


def test_the_web_form_makes_one_instance_launch_call(client, user, catalog):
    client.force_login(user)
    url = "/appliances/ubuntu-lamp/launch/"
    with _spy(url) as spy:
        response = client.post(url, launch_data(key_mode="create", new_key_name="laptop"))
    assert response.status_code == 302
    spy.assert_called_once()
    assert spy.call_args.kwargs["user"] == user and spy.call_args.kwargs["new_key_pair"].name == "laptop"


@pytest.mark.parametrize("path", ["/api/v1/instances/", "/api/v1/reservations/"])
def test_each_rest_create_makes_one_instance_launch_call(api, user, catalog, path):
    with _spy(path) as spy:
        response = api.post(path, {"appliance": "debian-12", "instance_type": "t3.small"}, format="json",
                            HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 202, response.data
    spy.assert_called_once()
    kwargs = spy.call_args.kwargs
    assert kwargs["user"] == user and kwargs["idempotency_key"] == "k-1"
    assert kwargs["idempotency_scope"] == path.strip("/").rsplit("/", 1)[-1]
