"""SigV4, access keys and rate limits, seen from unmodified boto3 (and a browser session)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from provisioning.models import AccessKey
from provisioning.services.access_keys import access_key_create, access_key_credentials, access_key_revoke

from .conftest import NO_RETRY, client_for

pytestmark = pytest.mark.django_db(transaction=True)


def code_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_a_signed_request_answers_as_its_owner(catalog, ec2, user):
    assert ec2.describe_instances()["Reservations"] == []
    key = ec2.skyport_key.access_key
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_wrong_secret_is_refused(catalog, live_server, user):
    created = access_key_create(user=user)
    secret = created.secret_access_key
    wrong = secret[:-1] + ("x" if secret[-1] != "x" else "y")  # always another secret (one in 64 ended in "x")
    bad = client_for(live_server.url, created.access_key.access_key_id, wrong)
    assert code_of(bad.describe_instances) == ("SignatureDoesNotMatch", 403)


def test_unknown_key_is_auth_failure(catalog, live_server, user):
    bad = client_for(live_server.url, "AKIAAAAAAAAAAAAAAAAA", "x" * 40)
    assert code_of(bad.describe_instances) == ("AuthFailure", 401)


def test_revoked_key_is_auth_failure(catalog, live_server, user):
    created = access_key_create(user=user)
    client = client_for(live_server.url, created.access_key.access_key_id, created.secret_access_key)
    client.describe_regions()
    access_key_revoke(user=user, ref=created.access_key.access_key_id)
    assert code_of(client.describe_regions) == ("AuthFailure", 401)


@pytest.mark.parametrize("change", ["revoke", "deactivate the owner"])
def test_a_key_changed_by_another_process_is_refused_at_once(catalog, live_server, user, change):
    """This process remembered the key; the change is written as another web process would (no local
    forgetting), and the very next request is refused."""
    created = access_key_create(user=user)
    client = client_for(live_server.url, created.access_key.access_key_id, created.secret_access_key)
    client.describe_regions()
    if change == "revoke":
        AccessKey.objects.filter(pk=created.access_key.pk).update(revoked_at=timezone.now(), secret_sealed="")
    else:
        type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert code_of(client.describe_regions) == ("AuthFailure", 401)


def test_an_owner_made_staff_elsewhere_is_read_again(catalog, user):
    created = access_key_create(user=user)
    key, _ = access_key_credentials(created.access_key.access_key_id)
    assert not key.owner.is_staff
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    key, secret = access_key_credentials(created.access_key.access_key_id)
    assert key.owner.is_staff and secret == created.secret_access_key


def test_unsigned_request_is_missing_authentication_token(catalog, live_server):
    anon = boto3.client("ec2", endpoint_url=f"{live_server.url}/ec2/", region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
    assert code_of(anon.describe_instances) == ("MissingAuthenticationToken", 401)


def test_a_browser_session_alone_gets_nothing(catalog, client, user):
    client.force_login(user)
    resp = client.post("/ec2/", {"Action": "DescribeInstances", "Version": "2016-11-15"})
    assert resp.status_code == 401
    assert b"<Code>MissingAuthenticationToken</Code>" in resp.content and b"<RequestID>" in resp.content


def test_stale_signature_is_request_expired(catalog, ec2):
    stale = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=16)
    with mock.patch("botocore.auth.get_current_datetime", return_value=stale):
        assert code_of(ec2.describe_instances) == ("RequestExpired", 400)


def test_wrong_region_names_the_right_one(catalog, live_server, user):
    created = access_key_create(user=user)
    other = client_for(live_server.url, created.access_key.access_key_id, created.secret_access_key,
                       region="eu-west-1")
    with pytest.raises(ClientError) as info:
        other.describe_regions()
    assert info.value.response["Error"]["Code"] == "AuthFailure"
    assert "us-east-1" in info.value.response["Error"]["Message"]


def test_read_only_key_may_describe_but_not_change(catalog, ec2_for, user):
    ro = ec2_for(user, read_only=True)
    assert ro.describe_key_pairs()["KeyPairs"] == []
    assert code_of(lambda: ro.create_key_pair(KeyName="x")) == ("UnauthorizedOperation", 403)


def test_unknown_action_is_invalid_action_naming_the_supported_ones(catalog, ec2):
    with pytest.raises(ClientError) as info:
        ec2.describe_vpcs()
    err = info.value.response["Error"]
    assert err["Code"] == "InvalidAction"
    assert "DescribeInstances" in err["Message"] and "TerminateInstances" in err["Message"]


def test_rate_limit_per_access_key_is_request_limit_exceeded(catalog, ec2_for, user, other_user):
    cache.clear()
    first, second = ec2_for(user), ec2_for(other_user)
    with override_settings(SKYPORT_API_RATE="3/day"):
        for _ in range(3):
            first.describe_regions()
        code, status = code_of(first.describe_regions)
        assert (code, status) == ("RequestLimitExceeded", 503)
        second.describe_regions()  # another key has its own budget
    cache.clear()


def test_retrying_client_backs_off_and_gives_up_on_request_limit(catalog, live_server, user):
    """botocore treats RequestLimitExceeded as throttling (it retries it), as it would against EC2."""
    cache.clear()
    created = access_key_create(user=user)
    client = client_for(live_server.url, created.access_key.access_key_id, created.secret_access_key,
                        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}))
    with override_settings(SKYPORT_API_RATE="1/day"):
        client.describe_regions()
        with pytest.raises(ClientError) as info:
            client.describe_regions()
    assert info.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    cache.clear()


def test_no_retry_config_is_used_by_fixtures():
    assert NO_RETRY.retries["total_max_attempts"] == 1
