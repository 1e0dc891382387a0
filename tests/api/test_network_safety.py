"""Safe to put on a network (issue 12), API side: expiring tokens, lockout on the token endpoint,
429 with Retry-After, inactive accounts cannot launch."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiToken
from portal.ratelimit import hit, parse_rate

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def _token(username: str = "alice", password: str = "alice-pass-123", **extra) -> APIClient:
    client = APIClient()
    response = client.post(TOKEN_URL, {"username": username, "password": password, **extra}, format="json")
    assert response.status_code == 200, response.data
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    client.token_id = response.data["id"]
    return client


# --------------------------------------------------------------------------- tokens
def test_tokens_are_stored_hashed_listed_and_revoked_by_their_owner(catalog, user, other_user):
    laptop, ci = _token(name="laptop"), _token(name="ci")
    stored = ApiToken.objects.get(public_id=laptop.token_id)
    assert laptop._credentials["HTTP_AUTHORIZATION"].split()[1] not in (stored.key_hash, stored.prefix + "x")
    listed = laptop.get("/api/v1/auth/tokens/").data
    assert [t["name"] for t in listed["results"]] == ["ci", "laptop"] and "token" not in listed["results"][0]
    # bob sees none of alice's tokens and cannot revoke them
    bob = _token("bob", "bob-pass-123")
    assert [t["id"] for t in bob.get("/api/v1/auth/tokens/").data["results"]] == [bob.token_id]
    assert bob.delete(f"/api/v1/auth/tokens/{ci.token_id}/").status_code == 404
    assert ci.get("/api/v1/instances/").status_code == 200
    # alice revokes her CI token from her laptop
    assert laptop.delete(f"/api/v1/auth/tokens/{ci.token_id}/").status_code == 204
    assert ci.get("/api/v1/instances/").status_code == 401
    assert laptop.get(f"/api/v1/auth/tokens/{laptop.token_id}/").data["name"] == "laptop"


def test_tokens_expire(catalog, user, settings):
    settings.SKYPORT_API_TOKEN_TTL_HOURS = 2
    client = _token()
    token = ApiToken.objects.get(public_id=client.token_id)
    assert timedelta(hours=1.9) < token.expires_at - timezone.now() <= timedelta(hours=2)
    assert client.get("/api/v1/instances/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/instances/")
    assert response.status_code == 401 and "expired" in response.data["detail"]


def test_a_deactivated_users_token_stops_working(catalog, user):
    client = _token()
    user.is_active = False
    user.save()
    assert client.get("/api/v1/instances/").status_code == 401


def test_the_token_endpoint_is_locked_out_after_five_wrong_passwords(catalog, user):
    client = APIClient()
    for _ in range(5):
        wrong = client.post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json")
        assert wrong.status_code == 400 and wrong.data["code"] == "invalid_request"
    sixth = client.post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json")
    assert sixth.status_code == 429 and sixth.json()["code"] == "locked_out" and int(sixth["Retry-After"]) > 0
    right = client.post(TOKEN_URL, {"username": "alice", "password": "alice-pass-123"}, format="json")
    assert right.status_code == 429 and "token" not in right.json()
    assert not ApiToken.objects.exists()


def test_web_and_api_failures_count_together(client, catalog, user):
    for _ in range(3):
        client.post("/login/", {"username": "alice", "password": "wrong"})
    api = APIClient()
    for _ in range(2):
        assert api.post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json").status_code == 400
    assert api.post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json").status_code == 429


# --------------------------------------------------------------------------- throttles
def test_the_api_answers_429_with_retry_after_above_its_rate(catalog, user, other_user, settings):
    settings.SKYPORT_API_RATE = "5/day"  # a window no test run straddles
    alice, bob = _token(), _token("bob", "bob-pass-123")
    for _ in range(5):
        assert alice.get("/api/v1/instance-types/").status_code == 200
    over = alice.get("/api/v1/instances/")
    assert over.status_code == 429 and over.data["code"] == "throttled"
    assert 1 <= int(over["Retry-After"]) <= 86400
    # per user: a second token of alice's shares her count, bob has his own
    assert _token().get("/api/v1/instances/").status_code == 429
    assert bob.get("/api/v1/instances/").status_code == 200


def test_session_calls_count_for_the_user_too(client, catalog, user, settings):
    settings.SKYPORT_API_RATE = "3/day"
    client.force_login(user)
    assert [client.get("/api/v1/quota/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_anonymous_calls_are_limited_per_address(catalog, settings):
    settings.SKYPORT_API_ANON_RATE = "2/day"
    client = APIClient()
    codes = [client.post(TOKEN_URL, {"username": "x", "password": "y"}, format="json").status_code
             for _ in range(3)]
    assert codes == [400, 400, 429]
    other_address = APIClient(REMOTE_ADDR="192.0.2.7")
    assert other_address.post(TOKEN_URL, {"username": "x", "password": "y"}, format="json").status_code == 400


def test_rate_strings_and_windows():
    assert parse_rate("600/min") == (600, 60)
    assert parse_rate("20/s") == (20, 1)
    assert parse_rate("100/10s") == (100, 10)
    assert parse_rate("1000/day") == (1000, 86400)
    assert parse_rate("5/hours") == (5, 3600)
    with pytest.raises(ValueError, match="N/period"):
        parse_rate("lots")
    assert [hit("k", "2/10s", now=100.0) for _ in range(2)] == [None, None]
    assert hit("k", "2/10s", now=105.0) == pytest.approx(5.0)
    assert hit("k", "2/10s", now=110.0) is None  # the next window


def test_the_counter_on_redis_is_one_round_trip_with_an_expiry(redis_url):
    from django.core.cache import caches
    from django.test import override_settings

    redis_cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url,
                               "KEY_PREFIX": "skyport-test-throttle"}}
    with override_settings(CACHES=redis_cache):
        key = f"redis-{timezone.now().timestamp()}"
        assert [hit(key, "2/10s", now=100.0) for _ in range(2)] == [None, None]
        assert hit(key, "2/10s", now=105.0) == pytest.approx(5.0)
        assert hit(key, "2/10s", now=110.0) is None
        backend = caches["default"]
        name = backend.make_and_validate_key(f"throttle:{key}:10:10")
        client = backend._cache.get_client(name)
        assert int(client.get(name)) == 3 and 0 < client.ttl(name) <= 11
        client.delete(name, backend.make_and_validate_key(f"throttle:{key}:10:11"))


def test_an_unreachable_cache_lets_requests_through(monkeypatch, caplog):
    from portal import ratelimit

    class Down:
        def add(self, *a, **k):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(ratelimit, "cache", Down())
    assert hit("k", "1/min") is None and hit("k", "1/min") is None
    assert "throttle skipped" in caplog.text


def test_retry_after_is_documented_in_the_schema(catalog, api):
    schema = api.get("/api/schema/?format=json").json()
    assert "429" in schema["paths"]["/api/v1/instances/"]["get"]["responses"]


# --------------------------------------------------------------------------- inactive accounts
def test_an_inactive_account_cannot_launch(catalog, user, api):
    user.is_active = False
    user.save()
    from provisioning.exceptions import AccountInactive
    from provisioning.services.launch import instance_launch

    with pytest.raises(AccountInactive, match="awaits an operator's approval"):
        instance_launch(user=user, appliance="ubuntu-lamp", instance_type="t3.small")
    response = api.post("/api/v1/instances/", {"appliance": "ubuntu-lamp", "instance_type": "t3.small"},
                        format="json")
    assert response.status_code == 403 and response.data["code"] == "account_inactive"


def test_the_client_address_trusts_only_the_configured_proxies(rf, settings):
    from portal.auth import client_ip

    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip(request) == "10.0.0.2"  # no proxy configured: the header is the client's own words
    settings.SKYPORT_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.9"  # what our one proxy appended, not what the client claimed
    settings.SKYPORT_PROXY_COUNT = 2
    assert client_ip(request) == "6.6.6.6"
    junk = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(junk) == "10.0.0.2"
    assert client_ip(rf.get("/", REMOTE_ADDR="")) is None


def test_a_junk_forwarded_address_does_not_break_the_login(client, user, settings):
    settings.SKYPORT_PROXY_COUNT = 1
    response = client.post("/login/", {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR="<script>")
    assert response.status_code == 200
