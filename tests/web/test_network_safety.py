"""Safe to put on a network (issue 12), web side: sign-up modes, login lockout, error pages, CSP."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import include, path

pytestmark = pytest.mark.django_db

SIGNUP = {"username": "carol", "email": "carol@example.com", "password1": "a-long-sky-pass-42",
          "password2": "a-long-sky-pass-42"}


# --------------------------------------------------------------------------- sign-up
def test_signup_is_closed_by_default(client):
    for response in (client.get("/signup/"), client.post("/signup/", SIGNUP)):
        assert response.status_code == 404
        assert "Sign-up is closed on this portal" in response.content.decode()
    assert not get_user_model().objects.filter(username="carol").exists()
    assert "Create an account" not in client.get("/login/").content.decode()


def test_signup_with_approval_makes_an_inactive_account_that_cannot_log_in(client, settings):
    settings.SKYPORT_SIGNUP = "approval"
    response = client.post("/signup/", SIGNUP)
    assert response.status_code == 200 and "waits for an operator" in response.content.decode()
    carol = get_user_model().objects.get(username="carol")
    assert not carol.is_active
    assert "_auth_user_id" not in client.session
    refused = client.post("/login/", {"username": "carol", "password": SIGNUP["password1"]})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    carol.is_active = True  # what staff do in the admin
    carol.save()
    assert client.post("/login/", {"username": "carol", "password": SIGNUP["password1"]}).status_code == 302


def test_signup_answers_the_same_for_known_and_unknown_emails(client, settings, user):
    settings.SKYPORT_SIGNUP = "approval"
    user.email = "alice@example.com"
    user.save()

    def answer(username: str, email: str) -> str:
        body = Client().post("/signup/", {**SIGNUP, "username": username, "email": email}).content.decode()
        return body.replace(username, "NAME")

    known, unknown = answer("carol", "alice@example.com"), answer("dave", "nobody@example.com")
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|"X-CSRFToken": "[^"]+"')
    assert strip.sub("", known) == strip.sub("", unknown)


def test_signup_passwords_go_through_djangos_validators(client, settings):
    settings.SKYPORT_SIGNUP = "open"
    body = client.post("/signup/", {**SIGNUP, "password1": "83749120", "password2": "83749120"}).content.decode()
    assert "This password is entirely numeric." in body
    body = client.post("/signup/", {**SIGNUP, "password1": "carol123x", "password2": "carol123x"}).content.decode()
    assert "too similar to the username" in body
    assert not get_user_model().objects.filter(username="carol").exists()


def test_signups_per_address_are_rate_limited(client, settings):
    settings.SKYPORT_SIGNUP = "approval"
    settings.SKYPORT_SIGNUP_RATE = "2/day"
    for name in ("u1", "u2"):
        assert client.post("/signup/", {**SIGNUP, "username": name}).status_code == 200
    third = client.post("/signup/", {**SIGNUP, "username": "u3"})
    assert third.status_code == 429 and int(third["Retry-After"]) > 0
    assert not get_user_model().objects.filter(username="u3").exists()


# --------------------------------------------------------------------------- login lockout
def _login(client: Client, password: str, username: str = "alice"):
    return client.post("/login/", {"username": username, "password": password})


def test_the_sixth_wrong_password_in_a_row_is_locked_out_and_the_right_one_then_too(client, user):
    for _ in range(5):
        response = _login(client, "wrong")
        assert response.status_code == 200 and "Please enter a correct username and password" in \
            response.content.decode()
    sixth = _login(client, "wrong")
    assert sixth.status_code == 429 and "Too many wrong passwords" in sixth.content.decode()
    assert 0 < int(sixth["Retry-After"]) <= 15 * 60
    right = _login(client, "alice-pass-123")
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # another user from the same address is not locked out by alice's failures
    other = get_user_model().objects.create_user("erin", password="erin-pass-123")
    assert _login(client, "erin-pass-123", username="erin").status_code == 302
    assert client.session["_auth_user_id"] == str(other.pk)


def test_the_lockout_ends_after_its_period(client, user, settings):
    for _ in range(6):
        _login(client, "wrong")
    assert _login(client, "alice-pass-123").status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert _login(client, "alice-pass-123").status_code == 302


def test_a_right_password_resets_the_count(client, user):
    for _ in range(5):
        _login(client, "wrong")
    assert _login(client, "alice-pass-123").status_code == 302
    client.post("/logout/")
    for _ in range(5):
        assert _login(client, "wrong").status_code == 200
    assert _login(client, "alice-pass-123").status_code == 302


def test_the_admin_login_is_locked_out_too(client, staff_user):
    for _ in range(6):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "root", "password": "root-pass-123"})
    assert response.status_code == 429


# --------------------------------------------------------------------------- error pages
def _no_django_page(body: str) -> None:
    for leak in ("Traceback", "URLconf", "DEBUG = True", "Using the URLconf", "django.core", "DATABASES",
                 "REDIS_URL", "settings", "/work/", ".py"):
        assert leak not in body, leak


def test_unknown_page_is_the_portals_404(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404 and "Not found" in body and 'class="site-header"' in body
    _no_django_page(body)


def test_oversized_form_post_is_the_portals_413(client, settings):
    settings.DEBUG = False
    response = client.post("/login/", {"username": "a" * (3 * 1024 * 1024), "password": "x"})
    body = response.content.decode()
    assert response.status_code == 413 and "Request too large" in body
    _no_django_page(body)


def test_csrf_failure_is_the_portals_403(settings, user):
    settings.DEBUG = False
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "alice", "password": "alice-pass-123"})
    body = response.content.decode()
    assert response.status_code == 403 and "This form has expired" in body
    _no_django_page(body)


def _boom(request):
    raise RuntimeError("secret detail")


def _forbidden(request):
    raise PermissionDenied


# A URL map for the next tests: the portal's own, plus a page that crashes and one that refuses.
urlpatterns = [path("boom/", _boom), path("forbidden/", _forbidden), path("", include("portal.urls"))]
handler403 = "portal.errors.permission_denied"
handler500 = "portal.errors.server_error"


def test_a_server_error_is_the_portals_500(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).get("/boom/")
    body = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in body and "secret detail" not in body
    _no_django_page(body)


def test_a_permission_refusal_is_the_portals_403(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    response = Client().get("/forbidden/")
    assert response.status_code == 403 and "Not allowed" in response.content.decode()
    _no_django_page(response.content.decode())


def test_api_errors_from_the_handlers_are_json(rf):
    from django.core.exceptions import RequestDataTooBig

    from portal.errors import bad_request, server_error

    big = bad_request(rf.post("/api/v1/instances/"), RequestDataTooBig())
    assert big.status_code == 413 and big["Content-Type"] == "application/json"
    assert server_error(rf.get("/api/v1/instances/")).status_code == 500


# --------------------------------------------------------------------------- headers
def test_pages_carry_a_content_security_policy(client):
    csp = client.get("/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert "unsafe-inline" not in directives["style-src"] and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
