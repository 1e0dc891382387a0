"""Key pairs, security groups, images, tags, filters, pagination, tenancy and errors through boto3.

Instances are made with the launch service here and moved with the inline pipeline (`drain`);
the live-worker scenarios (RunInstances, waiters) are in test_live.py.
"""
from __future__ import annotations

import base64

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from provisioning.models import Instance
from provisioning.selectors import appliance_get
from provisioning.services import instances as svc
from provisioning.services.tags import tags_set
from tests.factories import instance_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db(transaction=True)


def error(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]


def ids(reservations) -> list[str]:
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


# --------------------------------------------------------------------------- key pairs
def test_key_pairs_create_import_describe_delete(catalog, ec2):
    made = ec2.create_key_pair(KeyName="laptop")
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")  # EC2's pem, PKCS#1
    assert made["KeyPairId"].startswith("key-")
    assert error(lambda: ec2.create_key_pair(KeyName="laptop"))["Code"] == "InvalidKeyPair.Duplicate"
    private = serialization.load_pem_private_key(made["KeyMaterial"].encode(), password=None)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    imported = ec2.import_key_pair(KeyName="copy", PublicKeyMaterial=public)
    assert imported["KeyFingerprint"] == made["KeyFingerprint"]
    assert error(lambda: ec2.import_key_pair(KeyName="junk", PublicKeyMaterial=b"ssh-rsa nonsense"))["Code"] == \
        "InvalidKey.Format"
    pairs = ec2.describe_key_pairs(IncludePublicKey=True)["KeyPairs"]
    assert sorted(p["KeyName"] for p in pairs) == ["copy", "laptop"]
    assert all(p["PublicKey"].startswith("ssh-rsa ") for p in pairs)
    assert [p["KeyName"] for p in ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["lap*"]}])[
        "KeyPairs"]] == ["laptop"]
    assert error(lambda: ec2.describe_key_pairs(KeyNames=["nope"]))["Code"] == "InvalidKeyPair.NotFound"
    ec2.delete_key_pair(KeyName="copy")
    ec2.delete_key_pair(KeyName="copy")  # EC2: deleting a missing name succeeds
    assert error(lambda: ec2.delete_key_pair(KeyPairId="key-0123456789abcdef0"))["Code"] == "InvalidKeyPair.NotFound"
    assert [p["KeyName"] for p in ec2.describe_key_pairs()["KeyPairs"]] == ["laptop"]
    ed = ec2.create_key_pair(KeyName="ed", KeyType="ed25519")
    assert ed["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


# --------------------------------------------------------------------------- security groups
def test_security_groups_and_ingress_rules(catalog, ec2):
    gid = ec2.create_security_group(GroupName="web", Description="HTTP")["GroupId"]
    assert error(lambda: ec2.create_security_group(GroupName="web", Description="again"))["Code"] == \
        "InvalidGroup.Duplicate"
    perm = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
    assert error(lambda: ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm]))["Code"] == \
        "InvalidPermission.Duplicate"
    ec2.authorize_security_group_ingress(GroupName="web", IpProtocol="tcp", FromPort=22, ToPort=22,
                                         CidrIp="203.0.113.0/24")
    group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert group["GroupName"] == "web" and group["Description"] == "HTTP"
    assert sorted((p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in group["IpPermissions"]) == \
        [(22, "203.0.113.0/24"), (80, "0.0.0.0/0")]
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[perm])
    assert error(lambda: ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[perm]))["Code"] == \
        "InvalidPermission.NotFound"
    bad = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "not-a-cidr"}]}
    assert error(lambda: ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[bad]))["Code"] == \
        "InvalidParameterValue"
    assert error(lambda: ec2.describe_security_groups(GroupNames=["nope"]))["Code"] == "InvalidGroup.NotFound"
    assert error(lambda: ec2.delete_security_group(GroupId="sg-0123456789abcdef0"))["Code"] == "InvalidGroup.NotFound"
    assert error(lambda: ec2.delete_security_group(GroupId="sg-xyz"))["Code"] == "InvalidGroupId.Malformed"
    ec2.delete_security_group(GroupId=gid)
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == []


def test_a_group_in_use_cannot_be_deleted(catalog, ec2, user):
    gid = ec2.create_security_group(GroupName="db", Description="db")["GroupId"]
    instance_factory(user, appliance="debian-12", instance_type="t3.micro", security_groups=["db"])
    assert error(lambda: ec2.delete_security_group(GroupId=gid))["Code"] == "DependencyViolation"


# --------------------------------------------------------------------------- catalog
def test_images_instance_types_and_malformed_ami(catalog, ec2):
    images = ec2.describe_images()["Images"]
    app = appliance_get(ref="debian-12")
    assert app.public_id in [i["ImageId"] for i in images]
    one = ec2.describe_images(ImageIds=[app.public_id])["Images"]
    assert [i["Name"] for i in one] == ["debian-12"] and one[0]["State"] == "available"
    assert error(lambda: ec2.describe_images(ImageIds=["ami-0123456789abcdef0"]))["Code"] == "InvalidAMIID.NotFound"
    assert error(lambda: ec2.describe_images(ImageIds=["ami-zzz"]))["Code"] == "InvalidAMIID.Malformed"
    windows = ec2.describe_images(Filters=[{"Name": "platform", "Values": ["windows"]}])["Images"]
    assert windows and all(i["Platform"] == "windows" for i in windows)
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    types = ec2.describe_instance_types(InstanceTypes=["t3.micro"])["InstanceTypes"]
    assert types[0]["VCpuInfo"]["DefaultVCpus"] == 1 and types[0]["MemoryInfo"]["SizeInMiB"] == 1024
    assert error(lambda: ec2.describe_instance_types(InstanceTypes=["x9.huge"]))["Code"] == "InvalidInstanceType"


# --------------------------------------------------------------------------- instances
def test_filters_and_pagination_over_many_instances(catalog, ec2, user):
    web = instance_factory(user, 4, appliance="ubuntu-lamp", instance_type="t3.small")
    db = instance_factory(user, 2, appliance="debian-12", instance_type="t3.micro")
    tags_set(user=user, instances=web, tags={"role": "web", "env": "prod"})
    tags_set(user=user, instances=db[:1], tags={"role": "db"})
    drain()
    everything = ids(ec2.describe_instances()["Reservations"])
    assert sorted(everything) == sorted(i.public_id for i in web + db)
    first = ec2.describe_instances(MaxResults=5)
    assert len(ids(first["Reservations"])) == 5 and first["NextToken"]
    second = ec2.describe_instances(MaxResults=5, NextToken=first["NextToken"])
    assert len(ids(second["Reservations"])) == 1 and "NextToken" not in second
    assert sorted(ids(first["Reservations"]) + ids(second["Reservations"])) == sorted(everything)
    paged = [i for page in ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5})
             for i in ids(page["Reservations"])]
    assert sorted(paged) == sorted(everything)

    def find(*filters):
        return sorted(ids(ec2.describe_instances(Filters=[{"Name": n, "Values": v} for n, v in filters])[
            "Reservations"]))

    assert find(("tag:role", ["web"])) == sorted(i.public_id for i in web)
    assert find(("tag:role", ["w*"]), ("instance-type", ["t3.small"])) == sorted(i.public_id for i in web)
    assert find(("tag-key", ["role"])) == sorted(i.public_id for i in web + db[:1])
    assert find(("instance-type", ["t3.micro"])) == sorted(i.public_id for i in db)
    assert find(("image-id", [db[0].appliance.public_id])) == sorted(i.public_id for i in db)
    assert find(("instance-state-name", ["running"])) == sorted(everything)
    assert find(("instance-state-code", ["16"])) == sorted(everything)
    assert find(("instance-state-name", ["stopped"])) == []
    assert find(("instance-id", [web[0].public_id, db[1].public_id])) == sorted([web[0].public_id, db[1].public_id])
    zone = web[0].availability_zone
    assert find(("availability-zone", [zone])) == sorted(i.public_id for i in web + db
                                                         if i.availability_zone == zone)
    assert find(("key-name", ["nothing"])) == []
    bad = error(lambda: ec2.describe_instances(Filters=[{"Name": "colour", "Values": ["red"]}]))
    assert bad["Code"] == "InvalidParameterValue" and "instance-state-name" in bad["Message"]
    reservation = ec2.describe_instances(InstanceIds=[web[0].public_id])["Reservations"][0]
    item = reservation["Instances"][0]
    assert item["State"] == {"Code": 16, "Name": "running"} and item["InstanceType"] == "t3.small"
    assert {t["Key"]: t["Value"] for t in item["Tags"]} == {"role": "web", "env": "prod"}
    assert item["PrivateIpAddress"] == str(Instance.objects.get(public_id=web[0].public_id).private_ip)
    assert item["SecurityGroups"][0]["GroupName"] == "default"
    assert reservation["OwnerId"] == f"{user.pk:012d}"


def test_instance_ids_are_checked_and_tenancy_holds(catalog, ec2, ec2_for, user, other_user):
    mine = instance_factory(user, appliance="debian-12", instance_type="t3.micro")[0]
    ec2.create_key_pair(KeyName="mine")
    ec2.create_security_group(GroupName="mine", Description="x")
    tags_set(user=user, instances=[mine], tags={"owner": "alice"})
    drain()
    theirs = ec2_for(other_user)
    assert theirs.describe_instances()["Reservations"] == []
    assert theirs.describe_key_pairs()["KeyPairs"] == []
    assert theirs.describe_security_groups()["SecurityGroups"] == []
    assert theirs.describe_tags()["Tags"] == []
    assert theirs.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"] == []
    for call in (lambda: theirs.describe_instances(InstanceIds=[mine.public_id]),
                 lambda: theirs.terminate_instances(InstanceIds=[mine.public_id]),
                 lambda: theirs.stop_instances(InstanceIds=[mine.public_id]),
                 lambda: theirs.get_console_output(InstanceId=mine.public_id),
                 lambda: theirs.get_password_data(InstanceId=mine.public_id),
                 lambda: theirs.create_tags(Resources=[mine.public_id], Tags=[{"Key": "x", "Value": "y"}])):
        assert error(call)["Code"] == "InvalidInstanceID.NotFound"
    assert error(lambda: theirs.describe_key_pairs(KeyNames=["mine"]))["Code"] == "InvalidKeyPair.NotFound"
    assert error(lambda: theirs.delete_security_group(GroupName="mine"))["Code"] == "InvalidGroup.NotFound"
    assert Instance.objects.get(pk=mine.pk).state == "running"
    assert error(lambda: ec2.describe_instances(InstanceIds=["i-123"]))["Code"] == "InvalidInstanceID.Malformed"
    assert error(lambda: ec2.terminate_instances(InstanceIds=["vm-1"]))["Code"] == "InvalidInstanceID.Malformed"
    missing = error(lambda: ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"]))
    assert missing["Code"] == "InvalidInstanceID.NotFound" and "i-0123456789abcdef0" in missing["Message"]
    assert error(lambda: ec2.describe_instances(InstanceIds=[mine.public_id], MaxResults=5))["Code"] == \
        "InvalidParameterValue"


def test_state_changes_are_ec2_shaped_and_terminate_twice_is_no_error(catalog, ec2, user):
    inst = instance_factory(user, appliance="debian-12", instance_type="t3.micro")[0]
    drain()
    stopping = ec2.stop_instances(InstanceIds=[inst.public_id])["StoppingInstances"][0]
    assert stopping["PreviousState"]["Name"] == "running" and stopping["CurrentState"]["Name"] == "stopping"
    drain()
    again = ec2.stop_instances(InstanceIds=[inst.public_id])["StoppingInstances"][0]
    assert again["PreviousState"]["Name"] == again["CurrentState"]["Name"] == "stopped"
    assert error(lambda: ec2.reboot_instances(InstanceIds=[inst.public_id]))["Code"] == "IncorrectInstanceState"
    started = ec2.start_instances(InstanceIds=[inst.public_id])["StartingInstances"][0]
    assert started["CurrentState"] == {"Code": 0, "Name": "pending"}
    drain()
    ec2.reboot_instances(InstanceIds=[inst.public_id])
    drain()
    gone = ec2.terminate_instances(InstanceIds=[inst.public_id])["TerminatingInstances"][0]
    assert gone["CurrentState"] == {"Code": 32, "Name": "shutting-down"}
    drain()
    twice = ec2.terminate_instances(InstanceIds=[inst.public_id])["TerminatingInstances"][0]
    assert twice["CurrentState"] == twice["PreviousState"] == {"Code": 48, "Name": "terminated"}
    assert error(lambda: ec2.start_instances(InstanceIds=[inst.public_id]))["Code"] == "IncorrectInstanceState"


def test_several_instances_change_state_all_or_none(catalog, ec2, user):
    running, stopped = instance_factory(user, 2, appliance="debian-12", instance_type="t3.micro")
    drain()
    svc.instance_action(user=user, instance=stopped, action="stop")
    drain()
    assert error(lambda: ec2.reboot_instances(InstanceIds=[running.public_id, stopped.public_id]))["Code"] == \
        "IncorrectInstanceState"
    assert Instance.objects.get(pk=running.pk).task == ""  # the first one was not rebooted either


def test_dry_run_checks_without_doing(catalog, ec2, user):
    inst = instance_factory(user, appliance="debian-12", instance_type="t3.micro")[0]
    drain()
    assert error(lambda: ec2.terminate_instances(InstanceIds=[inst.public_id], DryRun=True))["Code"] == \
        "DryRunOperation"
    assert error(lambda: ec2.create_key_pair(KeyName="k", DryRun=True))["Code"] == "DryRunOperation"
    assert error(lambda: ec2.create_security_group(GroupName="g", Description="g", DryRun=True))["Code"] == \
        "DryRunOperation"
    assert error(lambda: ec2.create_tags(Resources=[inst.public_id], Tags=[{"Key": "a", "Value": "b"}],
                                         DryRun=True))["Code"] == "DryRunOperation"
    assert Instance.objects.get(pk=inst.pk).state == "running"
    assert ec2.describe_key_pairs()["KeyPairs"] == [] and not inst.tags.exists()
    ec2.stop_instances(InstanceIds=[inst.public_id])
    drain()
    assert error(lambda: ec2.reboot_instances(InstanceIds=[inst.public_id], DryRun=True))["Code"] == \
        "IncorrectInstanceState"


def test_tags_create_describe_delete(catalog, ec2, user):
    a, b = instance_factory(user, 2, appliance="debian-12", instance_type="t3.micro")
    ec2.create_tags(Resources=[a.public_id, b.public_id], Tags=[{"Key": "team", "Value": "blue"},
                                                                {"Key": "Name", "Value": "box"}])
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [a.public_id]}])["Tags"]
    assert {(t["Key"], t["Value"], t["ResourceType"]) for t in found} == {("team", "blue", "instance"),
                                                                           ("Name", "box", "instance")}
    ec2.create_tags(Resources=[a.public_id], Tags=[{"Key": "team", "Value": "red"}])  # overwrite
    assert {t["ResourceId"] for t in ec2.describe_tags(Filters=[{"Name": "value", "Values": ["red"]}])["Tags"]} == \
        {a.public_id}
    ec2.delete_tags(Resources=[a.public_id, b.public_id], Tags=[{"Key": "team", "Value": "blue"}])
    assert sorted((t["ResourceId"], t["Key"]) for t in ec2.describe_tags()["Tags"]) == sorted(
        [(a.public_id, "Name"), (a.public_id, "team"), (b.public_id, "Name")])
    ec2.delete_tags(Resources=[a.public_id])  # no Tag: all of them
    assert {t["ResourceId"] for t in ec2.describe_tags()["Tags"]} == {b.public_id}
    bad = error(lambda: ec2.create_tags(Resources=[a.public_id], Tags=[{"Key": "aws:x", "Value": "y"}]))
    assert bad["Code"] == "InvalidParameterValue" and "reserved" in bad["Message"]
    assert error(lambda: ec2.create_tags(Resources=["sg-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}]))[
        "Code"] == "InvalidParameterValue"


def test_console_output_status_and_password_data(catalog, ec2, user):
    key = ec2.create_key_pair(KeyName="admin")
    private = serialization.load_pem_private_key(key["KeyMaterial"].encode(), password=None)
    (win,) = instance_factory(user, appliance="windows-server-2019", instance_type="m5.large", key_name="admin")
    linux = instance_factory(user, appliance="debian-12", instance_type="t3.micro")[0]
    statuses = ec2.describe_instance_status(InstanceIds=[win.public_id], IncludeAllInstances=True)
    assert statuses["InstanceStatuses"][0]["InstanceState"]["Name"] == "pending"
    assert ec2.describe_instance_status()["InstanceStatuses"] == []  # only running ones by default
    drain()
    status = ec2.describe_instance_status(InstanceIds=[win.public_id])["InstanceStatuses"][0]
    assert status["InstanceStatus"]["Status"] == "ok" and status["SystemStatus"]["Status"] == "ok"
    console = ec2.get_console_output(InstanceId=linux.public_id)["Output"]  # botocore decodes the base64
    assert Instance.objects.get(pk=linux.pk).hostname in console
    data = ec2.get_password_data(InstanceId=win.public_id)["PasswordData"]
    password = private.decrypt(base64.b64decode(data), padding.PKCS1v15()).decode()
    stored = Instance.objects.get(pk=win.pk)
    assert len(password) >= 12 and password not in stored.initial_password + stored.password_data
    assert stored.initial_password == ""  # only the encrypted copy is kept
    assert ec2.get_password_data(InstanceId=linux.public_id)["PasswordData"] == ""


# --------------------------------------------------------------------------- the launch's own answer
def test_run_instances_answers_what_describe_reads_back(catalog, ec2, user):
    """RunInstances answers from what the launch wrote (no read-back): it must be exactly what
    DescribeInstances reads from the database, groups by name and tags by key, and a replay of
    its ClientToken (which reads) must answer the same."""
    ec2.create_key_pair(KeyName="laptop")
    web = ec2.create_security_group(GroupName="web", Description="HTTP")["GroupId"]
    admin = ec2.create_security_group(GroupName="admin", Description="SSH")["GroupId"]
    request = dict(ImageId=appliance_get(ref="debian-12").public_id, InstanceType="t3.small", MinCount=2,
                   MaxCount=2, KeyName="laptop", SecurityGroupIds=[web, admin], ClientToken="answer-check",
                   TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "zz", "Value": "last"},
                                                                            {"Key": "aa", "Value": "first"}]}])
    launched = ec2.run_instances(**request)
    assert [g["GroupName"] for g in launched["Instances"][0]["SecurityGroups"]] == ["admin", "web"]
    assert [t["Key"] for t in launched["Instances"][0]["Tags"]] == ["aa", "zz"]
    described = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in launched["Instances"]])
    assert len(described["Reservations"]) == 1
    for key in ("ReservationId", "OwnerId", "Groups"):
        assert launched[key] == described["Reservations"][0][key]
    assert launched["Instances"] == described["Reservations"][0]["Instances"]
    replayed = ec2.run_instances(**request)
    assert replayed["Instances"] == launched["Instances"]
