"""Sign up, log in, log out, the layout's navigation, and the key pairs page."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from provisioning.models import KeyPair

pytestmark = pytest.mark.django_db


def test_signup_creates_the_account_and_logs_in(client, settings):
    settings.SKYPORT_SIGNUP = "open"
    response = client.post("/signup/", {"username": "carol", "email": "carol@example.com",
                                        "password1": "a-long-sky-pass-42", "password2": "a-long-sky-pass-42"})
    assert response.status_code == 302 and response["Location"] == "/"
    user = get_user_model().objects.get(username="carol")
    assert user.email == "carol@example.com"
    body = client.get("/").content.decode()
    assert "Signed in as <strong>carol</strong>" in body and "Welcome to Skyport, carol" in body


def test_signup_validation_messages(client, user, settings):
    settings.SKYPORT_SIGNUP = "open"
    body = client.post("/signup/", {"username": "alice", "email": "bad", "password1": "password",
                                    "password2": "other"}).content.decode()
    assert "A user with that username already exists." in body
    assert "Enter a valid email address." in body
    assert "The two password fields didn’t match." in body
    body = client.post("/signup/", {"username": "dave", "email": "d@example.com", "password1": "password",
                                    "password2": "password"}).content.decode()
    assert "This password is too common." in body
    assert not get_user_model().objects.filter(username="dave").exists()


def test_login_and_logout(client, user):
    page = client.get("/login/?next=/instances/").content.decode()
    assert 'name="next" value="/instances/"' in page and 'for="id_username"' in page
    bad = client.post("/login/", {"username": "alice", "password": "nope"}).content.decode()
    assert "Please enter a correct username and password" in bad
    response = client.post("/login/", {"username": "alice", "password": "alice-pass-123", "next": "/instances/"})
    assert response.status_code == 302 and response["Location"] == "/instances/"
    assert client.get("/logout/").status_code == 405  # logging out is a POST (CSRF-protected form)
    assert client.post("/logout/").status_code == 302
    assert "Log in" in client.get("/").content.decode()


def test_layout_navigation_and_landmarks(client, user, staff_user, settings):
    anon = client.get("/").content.decode()
    for text in ('href="#main">Skip to main content', '<nav class="site-nav" aria-label="Main">', '<main id="main"',
                 'href="/api/docs/">API docs'):
        assert text in anon, text
    assert "Sign up" not in anon  # sign-up is off by default
    settings.SKYPORT_SIGNUP = "approval"
    assert 'href="/signup/">Sign up' in client.get("/").content.decode()
    assert "My instances" not in anon and 'href="/admin/"' not in anon
    client.force_login(user)
    body = client.get("/instances/").content.decode()
    assert 'href="/instances/" aria-current="page">My instances' in body and 'href="/keypairs/"' in body
    assert 'action="/logout/"' in body and 'href="/admin/"' not in body
    client.force_login(staff_user)
    assert 'href="/admin/">Admin' in client.get("/").content.decode()


def test_keypairs_create_shows_private_key_once(web, user):
    response = web.post("/keypairs/", {"form": "create", "create-name": "laptop", "create-key_type": "ed25519"})
    assert response.status_code == 302 and response["Location"] == "/keypairs/"
    key = KeyPair.objects.get(owner=user)
    first = web.get("/keypairs/").content.decode()
    assert "BEGIN OPENSSH PRIVATE KEY" in first and key.fingerprint in first
    assert "BEGIN OPENSSH PRIVATE KEY" not in web.get("/keypairs/").content.decode()
    assert web.get(f"/keypairs/{key.public_id}/download/").status_code == 200
    assert web.get(f"/keypairs/{key.public_id}/download/").status_code == 410


def test_keypairs_import_and_errors(web, user, public_key):
    body = web.post("/keypairs/", {"form": "import", "import-name": "mine", "import-public_key": "garbage"})
    assert "not a valid OpenSSH public key" in body.content.decode()
    assert not KeyPair.objects.exists()
    response = web.post("/keypairs/", {"form": "import", "import-name": "mine", "import-public_key": public_key})
    assert response.status_code == 302
    assert KeyPair.objects.get(owner=user).name == "mine"
    body = web.post("/keypairs/", {"form": "create", "create-name": "mine", "create-key_type": "rsa"})
    assert "You already have a key pair named" in body.content.decode()
    assert KeyPair.objects.count() == 1


def test_keypair_delete_is_post_only(client, user, public_key):
    from provisioning.services.keypairs import keypair_import

    key = keypair_import(user=user, name="mine", public_key=public_key)
    client.force_login(user)
    assert client.get(f"/keypairs/{key.public_id}/delete/").status_code == 405
    assert client.post(f"/keypairs/{key.public_id}/delete/").status_code == 302
    assert not KeyPair.objects.exists()


def test_404_page_uses_the_layout(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and "Back to the marketplace" in response.content.decode()
