"""The API's pagination, in a module of its own: DRF imports DEFAULT_PAGINATION_CLASS while it builds
its generic views, so this must not import them."""
from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """Page-number pagination, strict about `page_size`: DRF ignores one it cannot read (`null`, `-1`)
    and lists the default; a client that asked for something else hears that it was not understood
    (400). A page past the end (or `page=0`) stays DRF's 404, which the schema documents."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError({"page_size": [f"'{raw[:40]}' is not a page size: give a whole number from 1 to "
                                                 f"{self.max_page_size}."]})
        return min(size, self.max_page_size)
