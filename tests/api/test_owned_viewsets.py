"""Key pairs and security groups share one viewset base: lookup by id or name, own rows only, one delete path."""
from __future__ import annotations

import pytest

from portal.api.base import OwnedResourceViewSet
from portal.api.views import KeyPairViewSet, SecurityGroupViewSet
from provisioning.models import KeyPair, SecurityGroup

pytestmark = pytest.mark.django_db
CASES = [("/api/v1/keypairs/", {"name": "laptop"}, KeyPair, "Key pair"),
         ("/api/v1/security-groups/", {"name": "laptop"}, SecurityGroup, "Security group")]


def test_both_viewsets_are_the_owned_resource_base():
    assert issubclass(KeyPairViewSet, OwnedResourceViewSet) and issubclass(SecurityGroupViewSet, OwnedResourceViewSet)


@pytest.mark.parametrize("url, body, model, noun", CASES)
def test_by_id_or_name_own_rows_only_and_delete(api, api_other, url, body, model, noun):
    made = api.post(url, body, format="json")
    assert made.status_code == 201, made.data
    ref_id = made.data["id"]
    assert api.get(f"{url}laptop/").data["id"] == api.get(f"{url}{ref_id}/").data["id"] == ref_id
    assert api_other.get(url).data["count"] == 0
    for ref in ("laptop", ref_id):
        for call in (api_other.get, api_other.delete):
            response = call(f"{url}{ref}/")
            assert response.status_code == 404 and response.data["detail"] == f"{noun} '{ref}' does not exist."
    assert model.objects.count() == 1
    assert api.delete(f"{url}laptop/").status_code == 204 and model.objects.count() == 0
