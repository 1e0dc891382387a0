"""What every REST endpoint shares: safe parsing and lookups, pagination, error shapes in the schema,
and the base viewset of owned resources (key pairs, security groups; placement groups next).

Every lookup goes through a selector that only sees the caller's rows, so another user's instance,
key pair or security group is a 404 on every endpoint, never a 403.
"""
from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse
from rest_framework import mixins, viewsets

from provisioning.exceptions import NotFound
from provisioning.models.access import OwnedResource
from provisioning.selectors import owned_get

from .pagination import Pagination
from .parsers import PARSER_CLASSES
from .serializers import ErrorSerializer

ANY_SEGMENT = r"[^/]+"  # names such as t3.micro or "my key" are lookups too


class SafeParsingMixin:
    """JSON nested too deeply is a 400 (DRF's own parser lets Python's RecursionError through as a 500)."""

    parser_classes = PARSER_CLASSES


class SafeLookupMixin(SafeParsingMixin):
    """A NUL byte in a URL lookup is a 404, not a database error (PostgreSQL text cannot hold one)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        for value in kwargs.values():
            if "\x00" in str(value):
                raise NotFound("No such object: identifiers and names never contain NUL characters.")


def err(description: str, serializer=ErrorSerializer) -> OpenApiResponse:
    """An error response in the schema: `serializer` (the common error body) with what it means here."""
    return OpenApiResponse(serializer, description=description)


E400 = err("Invalid input: one key per bad field, each with what to fix, and `code`.")
E404 = err("Not found, or not yours.")
E409_STATE = err("The instance's current state forbids this action.")


class OwnedResourceViewSet(SafeLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """List, get (by public id or name, `/…/{ref}/`) and delete the caller's own `model` rows.

    A subclass names `model`, `serializer_class` and `list_selector` (e.g. `keypair_list`), deletes
    through its service in `perform_destroy`, and adds `create`, which differs per resource.
    """

    model: type[OwnedResource]
    pagination_class = Pagination
    filter_backends: list = []
    lookup_field = "public_id"
    lookup_url_kwarg = "ref"
    lookup_value_regex = ANY_SEGMENT

    @staticmethod
    def list_selector(*, user) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return self.model.objects.none()
        return self.list_selector(user=self.request.user)

    def get_object(self) -> OwnedResource:
        return owned_get(self.model, user=self.request.user, ref=self.kwargs["ref"])

    def perform_destroy(self, instance: OwnedResource) -> None:
        raise NotImplementedError  # each resource deletes through its own service
