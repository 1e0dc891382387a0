"""RunInstances and botocore's waiters with unmodified boto3 against the live server and a real Celery
worker on Redis: the instances really go pending -> running -> stopped -> terminated."""
from __future__ import annotations

import base64
import uuid

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from provisioning.models import Event, Instance, InstanceTag, Reservation
from provisioning.selectors import appliance_get
from provisioning.services.quotas import quota_set

pytestmark = [pytest.mark.celery]
FAST = {"Delay": 1, "MaxAttempts": 120}


def error(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]


def ami(slug: str) -> str:
    return appliance_get(ref=slug).public_id


def test_launch_wait_stop_start_terminate(celery_worker, catalog, ec2, user):
    ec2.create_key_pair(KeyName="laptop")
    gid = ec2.create_security_group(GroupName="web", Description="HTTP")["GroupId"]
    token = str(uuid.uuid4())
    request = dict(ImageId=ami("ubuntu-lamp"), InstanceType="t3.small", MinCount=2, MaxCount=3, KeyName="laptop",
                   SecurityGroupIds=[gid], UserData="#!/bin/sh\necho hello\n", ClientToken=token,
                   TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}])
    reservation = ec2.run_instances(**request)
    launched = [i["InstanceId"] for i in reservation["Instances"]]
    assert len(launched) == 3  # MaxCount when the fleet has room
    assert {i["State"]["Name"] for i in reservation["Instances"]} == {"pending"}
    assert [i["AmiLaunchIndex"] for i in reservation["Instances"]] == [0, 1, 2]
    assert all(i["ClientToken"] == token and i["KeyName"] == "laptop" for i in reservation["Instances"])
    assert all({"Key": "role", "Value": "web"} in i["Tags"] for i in reservation["Instances"])
    assert Instance.objects.get(public_id=launched[0]).user_data == "#!/bin/sh\necho hello\n"

    again = ec2.run_instances(**request)  # the same ClientToken: the same reservation, nothing new
    assert again["ReservationId"] == reservation["ReservationId"]
    assert sorted(i["InstanceId"] for i in again["Instances"]) == sorted(launched)
    assert Reservation.objects.filter(owner=user).count() == 1
    changed = error(lambda: ec2.run_instances(**{**request, "InstanceType": "t3.medium"}))
    assert changed["Code"] == "IdempotentParameterMismatch"

    ec2.get_waiter("instance_running").wait(InstanceIds=launched, WaiterConfig=FAST)
    ec2.get_waiter("instance_status_ok").wait(InstanceIds=launched, WaiterConfig=FAST)
    running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]},
                                              {"Name": "client-token", "Values": [token]}])
    assert sorted(i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]) == sorted(launched)
    assert "Set hostname" in ec2.get_console_output(InstanceId=launched[0])["Output"]

    ec2.stop_instances(InstanceIds=launched[:1])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=launched[:1], WaiterConfig=FAST)
    ec2.start_instances(InstanceIds=launched[:1])
    ec2.get_waiter("instance_running").wait(InstanceIds=launched[:1], WaiterConfig=FAST)
    ec2.terminate_instances(InstanceIds=launched)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=launched, WaiterConfig=FAST)
    twice = ec2.terminate_instances(InstanceIds=launched)["TerminatingInstances"]
    assert {(t["PreviousState"]["Name"], t["CurrentState"]["Name"]) for t in twice} == {("terminated", "terminated")}
    assert celery_worker.task_errors() == []


def test_windows_password_is_readable_only_with_the_private_key(celery_worker, catalog, ec2, user):
    material = ec2.create_key_pair(KeyName="admin")["KeyMaterial"]
    private = serialization.load_pem_private_key(material.encode(), password=None)
    inst = ec2.run_instances(ImageId=ami("windows-server-2019"), InstanceType="m5.large", MinCount=1, MaxCount=1,
                             KeyName="admin")["Instances"][0]["InstanceId"]
    ec2.get_waiter("password_data_available").wait(InstanceId=inst, WaiterConfig=FAST)
    data = ec2.get_password_data(InstanceId=inst)["PasswordData"]
    password = private.decrypt(base64.b64decode(data), padding.PKCS1v15()).decode()
    stored = Instance.objects.get(public_id=inst)
    assert password and stored.initial_password == "" and password not in stored.password_data


def test_run_instances_refusals(celery_worker, catalog, ec2, user):
    good = dict(ImageId=ami("debian-12"), InstanceType="t3.micro", MinCount=1, MaxCount=1)
    assert error(lambda: ec2.run_instances(**{**good, "ImageId": "ami-0123456789abcdef0"}))["Code"] == \
        "InvalidAMIID.NotFound"
    assert error(lambda: ec2.run_instances(**{**good, "ImageId": "debian-12"}))["Code"] == "InvalidAMIID.Malformed"
    assert error(lambda: ec2.run_instances(**{**good, "KeyName": "nope"}))["Code"] == "InvalidKeyPair.NotFound"
    assert error(lambda: ec2.run_instances(**{**good, "SecurityGroups": ["nope"]}))["Code"] == "InvalidGroup.NotFound"
    bad_type = error(lambda: ec2.run_instances(**{**good, "InstanceType": "x9.huge"}))
    assert bad_type["Code"] == "InvalidParameterValue" and "t3.micro" in bad_type["Message"]
    assert error(lambda: ec2.run_instances(MinCount=1, MaxCount=1))["Code"] == "MissingParameter"
    assert error(lambda: ec2.run_instances(**{**good, "MinCount": 3, "MaxCount": 2}))["Code"] == \
        "InvalidParameterValue"
    assert error(lambda: ec2.run_instances(**good, DryRun=True))["Code"] == "DryRunOperation"
    assert error(lambda: ec2.run_instances(**{**good, "KeyName": "nope"}, DryRun=True))["Code"] == \
        "InvalidKeyPair.NotFound"
    quota_set(user=user, instances=2, vcpus=100, memory_mib=1024 * 1024)
    over = error(lambda: ec2.run_instances(**{**good, "MinCount": 3, "MaxCount": 3}))
    assert over["Code"] == "InstanceLimitExceeded" and "2" in over["Message"]
    quota_set(user=user, instances=1000, vcpus=100000, memory_mib=100 * 1024 * 1024)
    huge = error(lambda: ec2.run_instances(ImageId=ami("debian-12"), InstanceType="r5.2xlarge", MinCount=100,
                                           MaxCount=100))
    assert huge["Code"] == "InsufficientInstanceCapacity" and "fit" in huge["Message"]
    assert Instance.objects.filter(owner=user).count() == 0  # nothing half-done
    assert Event.objects.filter(owner=user, action="request.refused").count() == 1


def test_launch_tags_are_validated_before_anything_is_made(celery_worker, catalog, ec2, user):
    bad = error(lambda: ec2.run_instances(
        ImageId=ami("debian-12"), InstanceType="t3.micro", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "aws:x", "Value": "y"}]}]))
    assert bad["Code"] == "InvalidParameterValue"
    assert not Instance.objects.filter(owner=user).exists() and not InstanceTag.objects.exists()
