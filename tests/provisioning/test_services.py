"""Request service, lifecycle and pipeline, driven inline (the real step code, no broker)."""
from __future__ import annotations

import pytest

from provisioning import lifecycle
from provisioning.exceptions import InvalidRequest, InvalidState, QuotaExceeded
from provisioning.models import Claim, Event, Instance, KeyPair, Reservation, SecurityGroup
from provisioning.pipeline import engine, instance_steps
from provisioning.services import instances as svc
from provisioning.services import keypairs, quotas
from provisioning.services.claims import ledger_audit
from tests.factories import instance_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db
REAL_STEP_ENQUEUE = engine.step_enqueue  # the autouse fixture replaces it in each test


def nothing_left_behind():
    assert Instance.objects.count() == 0
    assert Claim.objects.count() == 0
    assert Reservation.objects.count() == 0


def test_request_is_placed_and_claimed_in_one_transaction(catalog, user, _capture_dispatch):
    (inst,) = instance_factory(user, name="web")
    assert inst.state == "pending" and inst.task == "scheduling"
    assert inst.public_id.startswith("i-") and len(inst.public_id) == 19
    assert inst.reservation.public_id.startswith("r-")
    assert inst.host is not None and inst.private_ip and inst.mac_address.startswith("02:")
    assert inst.virt_mode == "hardware_assisted"
    claim = Claim.objects.get(instance=inst)
    assert (claim.vcpus, claim.memory_mib) == (2, 2048)
    assert inst.step == "copy_image"
    assert ledger_audit() == []


def test_pipeline_reaches_running_with_console_and_events(catalog, user):
    (inst,) = instance_factory(user)
    steps = drain()
    inst.refresh_from_db()
    assert steps == 4  # copy_image, boot, configure, finish_launch
    assert inst.state == "running" and inst.task == "" and inst.step == ""
    assert inst.launched_at is not None
    assert inst.boot_plan["stages"][0]["name"] == "firmware"
    assert inst.hostname in inst.console_log
    actions = list(inst.events.order_by("id").values_list("action", flat=True))
    assert actions == ["instance.request", "instance.scheduled", "instance.copy_image", "instance.boot",
                       "instance.configure", "instance.running"]
    assert inst.host.cached_appliances.filter(pk=inst.appliance_id).exists()


def test_second_launch_on_same_host_clones_the_cached_image(catalog, user):
    (first,) = instance_factory(user)
    drain()
    (second,) = instance_factory(user)
    copy_events = Event.objects.filter(action="instance.copy_image")
    drain()
    second.refresh_from_db()
    if second.host_id == first.host_id:
        assert "copy-on-write" in copy_events.filter(instance=second).get().message
    assert second.state == "running"


def test_password_login_is_shown_exactly_once(catalog, user):
    (inst,) = instance_factory(user)
    drain()
    first = svc.instance_credentials(user=user, instance=inst)
    second = svc.instance_credentials(user=user, instance=inst)
    assert first["password"] and len(first["password"]) >= 12
    assert second["password"] is None and second["password_already_shown"] is True
    inst.refresh_from_db()
    assert inst.initial_password == ""


def test_key_pair_login_has_no_password(catalog, user):
    created = keypairs.keypair_create(user=user, name="laptop")
    assert "OPENSSH PRIVATE KEY" in created.private_key_pem
    (inst,) = instance_factory(user, key_name="laptop")
    drain()
    creds = svc.instance_credentials(user=user, instance=inst)
    assert creds["password"] is None
    assert creds["connect"] == f"ssh -i laptop.pem ubuntu@{inst.private_ip}"
    assert not hasattr(KeyPair.objects.get(name="laptop"), "private_key")


def test_windows_is_never_paravirtualized(catalog, user):
    (inst,) = instance_factory(user, appliance="windows-server-2003", instance_type="t3.small")
    assert inst.virt_mode in ("hardware_assisted", "binary_translation")
    drain()
    inst.refresh_from_db()
    assert inst.state == "running"
    assert inst.login_user == "Administrator"


def test_container_boots_without_firmware_or_kernel(catalog, user):
    (inst,) = instance_factory(user, appliance="nginx-alpine-container", instance_type="t3.nano")
    assert inst.virt_mode == "container"
    drain()
    inst.refresh_from_db()
    names = [s["name"] for s in inst.boot_plan["stages"]]
    assert "firmware" not in names and "kernel" not in names
    assert inst.state == "running"


def test_stop_start_reboot_terminate(catalog, user):
    (inst,) = instance_factory(user)
    drain()
    svc.instance_action(user=user, instance=inst, action="stop")
    inst.refresh_from_db()
    assert inst.state == "stopping"
    drain()
    inst.refresh_from_db()
    assert inst.state == "stopped" and Claim.objects.filter(instance=inst).exists()
    svc.instance_action(user=user, instance=inst, action="start")
    drain()
    inst.refresh_from_db()
    assert inst.state == "running"
    svc.instance_action(user=user, instance=inst, action="reboot")
    inst.refresh_from_db()
    assert inst.state == "running" and inst.task == "rebooting"
    drain()
    inst.refresh_from_db()
    assert inst.task == ""
    host = inst.host
    svc.instance_action(user=user, instance=inst, action="terminate")
    drain()
    inst.refresh_from_db()
    host.refresh_from_db()
    assert inst.state == "terminated" and inst.terminated_at is not None
    assert not Claim.objects.filter(instance=inst).exists()
    assert (host.vcpus_used, host.memory_mib_used, host.instances_used) == (0, 0, 0)
    assert ledger_audit() == []


def test_forbidden_transitions_say_why(catalog, user):
    (inst,) = instance_factory(user)
    with pytest.raises(InvalidState, match="cannot be stopped: it is pending"):
        svc.instance_action(user=user, instance=inst, action="stop")
    drain()
    with pytest.raises(InvalidState, match="cannot be started: it is running"):
        svc.instance_action(user=user, instance=inst, action="start")
    inst.refresh_from_db()
    assert lifecycle.actions_allowed(inst) == ["stop", "reboot", "terminate"]


def test_terminate_while_pending_makes_queued_steps_stale(catalog, user):
    (inst,) = instance_factory(user)
    old_seq = inst.step_seq
    svc.instance_action(user=user, instance=inst, action="terminate")
    assert engine.step_advance(kind="instance", object_id=inst.pk, seq=old_seq) == "stale"
    drain()
    inst.refresh_from_db()
    assert inst.state == "terminated"
    assert ledger_audit() == []


@pytest.mark.parametrize("steps_run", [0, 1], ids=["scheduled", "copying-image"])
def test_terminating_a_launch_that_has_not_booted_ends_it_at_once(catalog, user, _capture_dispatch, steps_run):
    (inst,) = instance_factory(user)
    for _ in range(steps_run):  # copy_image: the image is being copied, nothing boots yet
        assert engine.step_advance(kind="instance", object_id=inst.pk, seq=inst.step_seq) == "done"
        inst.refresh_from_db()
    assert inst.state == "pending" and inst.task in ("scheduling", "copying_image")
    queued, host = inst.step_seq, inst.host
    _capture_dispatch.clear()
    (done,) = svc.instances_action(user=user, instances=[inst], action="terminate", idempotent=True)
    assert (done.previous_state, done.state) == ("pending", "terminated")
    inst.refresh_from_db()
    host.refresh_from_db()
    assert inst.state == "terminated" and inst.task == "" and inst.step == "" and inst.terminated_at
    assert not Claim.objects.filter(instance=inst).exists() and host.instances_used == 0
    assert _capture_dispatch == []  # no shutdown step: there is no guest to shut down
    assert engine.step_advance(kind="instance", object_id=inst.pk, seq=queued) == "stale"
    assert list(inst.events.order_by("id").values_list("action", flat=True))[-2:] == [
        "instance.terminate", "instance.terminated"]
    assert ledger_audit() == []


def test_terminating_a_booting_launch_shuts_the_guest_down(catalog, user):
    (inst,) = instance_factory(user)
    for _ in range(2):  # copy_image, boot
        engine.step_advance(kind="instance", object_id=inst.pk, seq=Instance.objects.get(pk=inst.pk).step_seq)
    inst.refresh_from_db()
    assert inst.task == "booting"
    svc.instance_action(user=user, instance=inst, action="terminate")
    inst.refresh_from_db()
    assert inst.state == "shutting-down" and inst.step == "terminate_guest"
    drain()
    inst.refresh_from_db()
    assert inst.state == "terminated" and ledger_audit() == []


def test_duplicate_delivery_runs_a_step_once(catalog, user):
    (inst,) = instance_factory(user)
    seq = inst.step_seq
    assert engine.step_advance(kind="instance", object_id=inst.pk, seq=seq) == "done"
    assert engine.step_advance(kind="instance", object_id=inst.pk, seq=seq) == "stale"
    assert Event.objects.filter(instance=inst, action="instance.copy_image").count() == 1


def test_step_failure_ends_in_error_and_releases_the_claim(catalog, user, monkeypatch):
    (inst,) = instance_factory(user)

    def refuse(*a, **k):
        raise RuntimeError("disk image checksum mismatch")

    monkeypatch.setattr(instance_steps.driver, "boot_plan", refuse)
    drain()
    inst.refresh_from_db()
    assert inst.state == "error"
    assert "checksum mismatch" in inst.state_reason
    assert not Claim.objects.filter(instance=inst).exists()
    assert ledger_audit() == []


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"appliance": "ami-00000000000000000"}, "appliance"),
        ({"instance_type": "z9.mega"}, "instance_type"),
        ({"appliance": "windows-server-2019", "instance_type": "t3.micro"}, "instance_type"),
        ({"user_data": "x" * (16 * 1024 + 1)}, "user_data"),
        ({"key_name": "nope"}, "key_name"),
        ({"security_groups": ["nope"]}, "security_groups"),
        ({"n": 2, "min_count": 3}, "max_count"),
        ({"virt_mode": "paravirtualization", "appliance": "windows-server-2003"}, "virt_mode"),
        ({"availability_zone": "mars-1a"}, "availability_zone"),
    ],
)
def test_bad_input_names_the_field_and_leaves_nothing(catalog, user, fields, field):
    with pytest.raises(InvalidRequest) as err:
        instance_factory(user, **fields)
    assert field in err.value.errors, err.value.errors
    nothing_left_behind()


def test_below_minimum_message_says_what_is_needed(catalog, user):
    with pytest.raises(InvalidRequest) as err:
        instance_factory(user, appliance="windows-server-2019", instance_type="t3.micro")
    msg = err.value.errors["instance_type"][0]
    assert "at least 2 vCPU, 4 GiB memory, 40 GiB disk" in msg


def test_user_data_at_the_limit_is_accepted(catalog, user):
    (inst,) = instance_factory(user, user_data="x" * (16 * 1024))
    assert len(inst.user_data) == 16 * 1024


def test_quota_names_resource_limit_and_usage(catalog, user):
    quotas.quota_set(user=user, instances=2, vcpus=100, memory_mib=10**6)
    instance_factory(user)
    with pytest.raises(QuotaExceeded) as err:
        instance_factory(user, 2)
    assert "instances: limit 2, in use 1, requested 2" in err.value.errors["quota"][0]
    assert Instance.objects.count() == 1


def test_new_rules_create_a_launch_group(catalog, user):
    from provisioning.services.security_groups import rule_parse

    rules = [rule_parse({"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"})]
    (inst,) = instance_factory(user, new_rules=rules)
    group = inst.security_groups.get()
    assert group.name.startswith("launch-wizard-")
    assert str(group.rules.get()) == "TCP 80 from 0.0.0.0/0"


def test_default_group_is_used_when_none_given(catalog, user):
    (inst,) = instance_factory(user)
    assert [g.name for g in inst.security_groups.all()] == ["default"]
    assert SecurityGroup.objects.filter(owner=user).count() == 1


def test_malformed_public_key_is_rejected(user):
    with pytest.raises(InvalidRequest) as err:
        keypairs.keypair_import(user=user, name="bad", public_key="ssh-rsa not-base64!!")
    assert "public_key" in err.value.errors
    assert KeyPair.objects.count() == 0


def test_imported_key_round_trips(user):
    created = keypairs.keypair_create(user=user, name="gen")
    public = created.key_pair.public_key
    kp = keypairs.keypair_import(user=user, name="copy", public_key=public + " me@laptop")
    assert kp.fingerprint == created.key_pair.fingerprint
    with pytest.raises(InvalidRequest, match="already have a key pair"):
        keypairs.keypair_import(user=user, name="copy", public_key=public)


def test_restart_console_says_credentials_are_unchanged(catalog, user):
    (inst,) = instance_factory(user, appliance="windows-server-2003")
    drain()
    svc.instance_action(user=user, instance=inst, action="stop")
    drain()
    svc.instance_action(user=user, instance=inst, action="start")
    drain()
    inst.refresh_from_db()
    assert inst.state == "running"
    assert inst.console_log.count("Generated password for Administrator") == 1
    assert "Credentials for Administrator unchanged" in inst.console_log


def test_too_many_rules_or_groups_are_refused(catalog, user):
    from provisioning.services.security_groups import RuleSpec

    with pytest.raises(InvalidRequest) as err:
        instance_factory(user, new_rules=[RuleSpec("tcp", p, p, "0.0.0.0/0") for p in range(1, 62)])
    assert "At most 60 rules" in err.value.errors["rules"][0]
    with pytest.raises(InvalidRequest) as err:
        instance_factory(user, security_groups=[f"g{i}" for i in range(17)])
    assert "At most 16 security groups" in err.value.errors["security_groups"][0]
    nothing_left_behind()


def test_unreachable_broker_does_not_fail_a_committed_request(monkeypatch, caplog):
    """After the commit the request has succeeded: a dead broker is logged, the reconciler re-sends."""
    from kombu.exceptions import OperationalError

    from provisioning import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.advance, "apply_async", broker_down)
    assert REAL_STEP_ENQUEUE(kind="instance", object_id=1, seq=1) is False
    assert "reconciler will re-send" in caplog.text


def test_an_unsupported_key_type_is_a_field_error_from_the_service(user):
    for text in ("ssh-foo AAAAB3NzaC1yc2E=", _ecdsa_public_key()):
        with pytest.raises(InvalidRequest) as err:
            keypairs.parse_public_key(text)
        assert list(err.value.errors) == ["public_key"]
        assert err.value.errors["public_key"][0].startswith(f"Unsupported key type '{text.split()[0]}'")


def _ecdsa_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_a_duplicate_security_group_name_is_refused_by_the_service(user):
    from provisioning.services.security_groups import security_group_create

    security_group_create(user=user, name="web")
    with pytest.raises(InvalidRequest) as err:
        security_group_create(user=user, name=" web ")
    assert err.value.errors["name"] == ["You already have a security group named 'web'; choose another name."]


def test_windows_login_hint_is_the_one_connect_string(catalog, user):
    from provisioning.services.instances import instance_login_hint

    (inst,) = instance_factory(user, appliance="windows-server-2019", instance_type="t3.medium")
    drain()
    inst.refresh_from_db()
    assert instance_login_hint(inst)["connect"] == f"Remote Desktop (RDP) to {inst.private_ip}:3389 as Administrator"
