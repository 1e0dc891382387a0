"""Schema-driven testing (schemathesis): every operation of the OpenAPI schema, a few generated
requests each (the schema's examples first), against the portal in-process; no server error, no
answer the schema does not describe (status code, content type, headers, body), and no request
that violates the schema accepted (e.g. `page_size=null`)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 4


def _in_test_transaction(environ, start_response):
    """The portal's WSGI app without closing the database connection after each request (the test's
    transaction lives on it), as Django's test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from portal.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            if hasattr(response, "close"):
                response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Loaded at collection (generating the schema needs no database), one test per operation.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", _in_test_transaction)


@pytest.fixture
def token(user) -> str:
    from portal.tokens import token_issue

    return token_issue(user=user, name="schemathesis")[1]


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, catalog, token):
    # Not checked: that every schema-valid request is accepted. A valid-looking appliance slug or key
    # pair name that does not exist is rightly a 400, and no schema can list what exists.
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, excluded_checks=[positive_data_acceptance])
