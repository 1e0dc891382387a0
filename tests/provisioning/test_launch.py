"""`instance_launch`, the one launch call: the new key pair, all errors at once, one refusal event, idempotency."""
from __future__ import annotations

import pytest

from provisioning.exceptions import IdempotencyConflict, InsufficientCapacity, InvalidRequest
from provisioning.models import Claim, Event, Host, IdempotencyRecord, Instance, KeyPair, Reservation
from provisioning.services.claims import ledger_audit
from provisioning.services.keypairs import NewKeyPair, keypair_create
from provisioning.services.launch import instance_launch

pytestmark = pytest.mark.django_db
FIELDS = {"appliance": "debian-12", "instance_type": "t3.small"}


def test_a_generated_key_pair_is_made_with_the_launch_and_its_private_key_returned_once(catalog, user):
    result = instance_launch(user=user, new_key_pair=NewKeyPair(name="laptop"), **FIELDS)
    inst = result.reservation.instances.get()
    assert result.key_pair.name == "laptop" and inst.key_pair == result.key_pair and inst.key_name == "laptop"
    assert result.private_key_pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert result.replayed is False
    stored = KeyPair.objects.values_list("public_key", flat=True).get()
    assert "PRIVATE" not in stored and not any(f.name.startswith("private") for f in KeyPair._meta.fields)
    assert set(Event.objects.values_list("action", flat=True)) >= {"keypair.create", "instance.request"}


def test_an_imported_key_pair_has_no_private_key_in_the_result(catalog, user):
    public = keypair_create(user=user, name="tmp").key_pair.public_key
    KeyPair.objects.all().delete()
    result = instance_launch(user=user, new_key_pair=NewKeyPair(name="mine", public_key=public), **FIELDS)
    assert result.key_pair.name == "mine" and result.private_key_pem is None


def test_every_bad_field_is_named_at_once_the_new_key_pair_included(catalog, user):
    keypair_create(user=user, name="taken")
    with pytest.raises(InvalidRequest) as err:
        instance_launch(user=user, new_key_pair=NewKeyPair(name="taken", key_type="dsa"),
                        appliance="debian-12", instance_type="t9.none", user_data="x" * 20000)
    assert set(err.value.errors) == {"new_key_name", "new_key_type", "instance_type", "user_data"}
    assert "already have a key pair named 'taken'" in err.value.errors["new_key_name"][0]
    assert KeyPair.objects.count() == 1 and not Instance.objects.exists()


def test_a_bad_public_key_is_named_on_its_field(catalog, user):
    with pytest.raises(InvalidRequest) as err:
        instance_launch(user=user, new_key_pair=NewKeyPair(name="k", public_key="ssh-rsa nope"), **FIELDS)
    assert list(err.value.errors) == ["public_key"]


def test_a_refusal_rolls_back_the_new_key_pair_and_is_logged_once(catalog, user):
    Host.objects.update(state="maintenance")
    with pytest.raises(InsufficientCapacity):
        instance_launch(user=user, new_key_pair=NewKeyPair(name="laptop"), **FIELDS)
    assert not KeyPair.objects.exists() and not Instance.objects.exists() and not Claim.objects.exists()
    refused = Event.objects.get(action="request.refused")
    assert refused.owner == user and refused.level == "error" and "in maintenance" in refused.message
    assert refused.data["instance_type"] == "t3.small" and refused.data["explanation"]["filters"]
    assert list(Event.objects.values_list("action", flat=True)) == ["request.refused"]


def test_a_repeated_key_replays_the_original_and_a_changed_request_is_refused(catalog, user):
    first = instance_launch(user=user, idempotency_key="tok-1", idempotency_scope="ec2", **FIELDS)
    again = instance_launch(user=user, idempotency_key="tok-1", idempotency_scope="ec2",
                            instance_type="t3.small", appliance="debian-12", security_groups=[])
    assert again.replayed and again.reservation.pk == first.reservation.pk and not first.replayed
    with pytest.raises(IdempotencyConflict):
        instance_launch(user=user, idempotency_key="tok-1", idempotency_scope="ec2",
                        **{**FIELDS, "instance_type": "t3.micro"})
    other_scope = instance_launch(user=user, idempotency_key="tok-1", idempotency_scope="rest", **FIELDS)
    assert not other_scope.replayed and Reservation.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 2 and ledger_audit() == []


def test_a_replay_with_a_new_key_pair_does_not_return_the_private_key_again(catalog, user):
    first = instance_launch(user=user, idempotency_key="k", new_key_pair=NewKeyPair(name="laptop"), **FIELDS)
    again = instance_launch(user=user, idempotency_key="k", new_key_pair=NewKeyPair(name="laptop"), **FIELDS)
    assert first.private_key_pem and again.replayed and again.private_key_pem is None
    assert KeyPair.objects.count() == 1 and again.reservation.pk == first.reservation.pk


def test_a_refused_idempotent_launch_frees_the_key_and_logs_one_refusal(catalog, user):
    Host.objects.update(state="maintenance")
    with pytest.raises(InsufficientCapacity):
        instance_launch(user=user, idempotency_key="retry", **FIELDS)
    assert not IdempotencyRecord.objects.exists()
    assert Event.objects.filter(action="request.refused").count() == 1
    Host.objects.update(state="enabled")
    assert instance_launch(user=user, idempotency_key="retry", **FIELDS).replayed is False
