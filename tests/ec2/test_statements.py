"""What the benchmark's loop costs in statements (RunInstances -> DescribeInstances -> TerminateInstances), in
process through Django's whole handler with botocore-signed requests: pinned per database, and DescribeInstances
costs the same for one instance as for five with tags and groups (no query per instance)."""
from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from provisioning.selectors import appliance_get
from provisioning.services.access_keys import access_key_create

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded; charset=utf-8"
# Each counts the access key's check. RunInstances: (on SQLite a read of the idempotency key first) BEGIN, the key's
# claim, appliance, instance type,
# SAVEPOINT, default group, reservation, quota lock, usage, instance, placement (3 on PostgreSQL: decision,
# claim, record; 5 on SQLite), groups, events, RELEASE, the key's reservation, COMMIT. DescribeInstances: the
# instances (catalog rows and ClientToken joined), groups, tags. TerminateInstances: the ids, BEGIN, lock, two
# events, the claims' release (1 statement on PostgreSQL, 3 on SQLite), the row, COMMIT.
EXPECTED = {"postgresql": {"run": 19, "describe": 4, "terminate": 9},
            "sqlite": {"run": 22, "describe": 4, "terminate": 11}}


class Signed:
    def __init__(self, user):
        self.key = access_key_create(user=user)
        self.client = Client()

    def __call__(self, **params) -> tuple[str, int]:
        body = urlencode({**params, "Version": "2016-11-15"})
        request = AWSRequest("POST", "http://testserver/ec2/", data=body, headers={"Content-Type": FORM})
        SigV4Auth(Credentials(self.key.access_key.access_key_id, self.key.secret_access_key), "ec2",
                  "us-east-1").add_auth(request)
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "content-type"}
        with CaptureQueriesContext(connection) as queries:
            resp = self.client.generic("POST", "/ec2/", body, content_type=FORM, headers={**headers,
                                                                                          "host": "testserver"})
        assert resp.status_code == 200, resp.content
        return resp.content.decode(), len(queries.captured_queries)


def _run(call: Signed, ami: str, count: int = 1, **extra) -> tuple[list[str], int]:
    text, n = call(Action="RunInstances", ImageId=ami, InstanceType="t3.micro", MinCount=str(count),
                   MaxCount=str(count), ClientToken=str(uuid.uuid4()), **extra)
    return re.findall(r"<instanceId>(i-[0-9a-f]+)</instanceId>", text), n


def test_the_loop_sends_a_pinned_number_of_statements(catalog, user):
    call = Signed(user)
    ami = appliance_get(ref="debian-12").public_id
    _run(call, ami)  # the first launch also makes the quota row and the default group
    counts = {}
    (iid,), counts["run"] = _run(call, ami)
    _, counts["describe"] = call(Action="DescribeInstances", **{"InstanceId.1": iid})
    text, counts["terminate"] = call(Action="TerminateInstances", **{"InstanceId.1": iid})
    assert "<name>terminated</name>" in text  # it had not begun to boot: ended at once
    assert counts == EXPECTED[connection.vendor]


def test_describe_costs_the_same_for_one_instance_or_five_with_tags(catalog, user):
    call = Signed(user)
    ami = appliance_get(ref="debian-12").public_id
    tags = {"TagSpecification.1.ResourceType": "instance", "TagSpecification.1.Tag.1.Key": "role",
            "TagSpecification.1.Tag.1.Value": "web", "TagSpecification.1.Tag.2.Key": "tier",
            "TagSpecification.1.Tag.2.Value": "1"}
    singles = [_run(call, ami, **tags)[0][0] for _ in range(5)]
    text, n_one = call(Action="DescribeInstances", **{"InstanceId.1": singles[0]})
    assert text.count("<key>role</key>") == 1
    text, n_five = call(Action="DescribeInstances", **{f"InstanceId.{i}": iid for i, iid in enumerate(singles, 1)})
    assert text.count("<key>role</key>") == 5 and text.count("<groupName>default</groupName>") == 5
    assert n_five == n_one == EXPECTED[connection.vendor]["describe"]
    # A reservation of several: one more statement for their launch indexes, however many are shown.
    several, _ = _run(call, ami, count=5, **tags)
    text, n_two = call(Action="DescribeInstances", **{f"InstanceId.{i}": iid for i, iid in enumerate(several[:2], 1)})
    assert "<amiLaunchIndex>1</amiLaunchIndex>" in text
    _, n_all = call(Action="DescribeInstances", **{f"InstanceId.{i}": iid for i, iid in enumerate(several, 1)})
    assert n_two == n_all == n_one + 1
