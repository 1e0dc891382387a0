"""The owned-resource kit: one abstract model, one "public id or name" lookup, tenancy in the selector."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from provisioning.exceptions import NotFound
from provisioning.models import KeyPair, PlacementGroup, SecurityGroup
from provisioning.selectors import appliance_get, owned_get, ref_lookup

pytestmark = pytest.mark.django_db


def _make(model, user, name):
    extra = {KeyPair: {"public_key": "ssh-ed25519 AAAA", "fingerprint": "SHA256:x"},
             PlacementGroup: {"strategy": "affinity"}, SecurityGroup: {}}[model]
    return model.objects.create(owner=user, name=name, **extra)


@pytest.mark.parametrize("model, prefix", [(KeyPair, "key-"), (SecurityGroup, "sg-"), (PlacementGroup, "pg-")])
def test_each_owned_resource_has_an_id_an_owner_a_unique_name_and_a_date(user, other_user, model, prefix):
    row = _make(model, user, "web")
    assert row.public_id.startswith(prefix) and len(row.public_id) == len(prefix) + 17 and row.created_at
    assert _make(model, other_user, "web").public_id != row.public_id  # names are per owner
    with pytest.raises(IntegrityError), transaction.atomic():
        _make(model, user, "web")


@pytest.mark.parametrize("model, noun", [(KeyPair, "Key pair"), (SecurityGroup, "Security group"),
                                         (PlacementGroup, "Placement group")])
def test_owned_get_finds_by_id_or_name_and_never_another_users(user, other_user, model, noun):
    mine = _make(model, user, "web")
    assert owned_get(model, user=user, ref="web") == mine
    assert owned_get(model, user=user, ref=mine.public_id) == mine
    for who, ref in ((other_user, "web"), (other_user, mine.public_id), (user, "nope"), (user, "")):
        with pytest.raises(NotFound) as err:
            owned_get(model, user=who, ref=ref)
        assert err.value.message == f"{noun} '{ref}' does not exist."


def test_a_public_id_wins_over_a_name_that_spells_another_rows_id(user):
    first = _make(KeyPair, user, "first")
    impostor = _make(KeyPair, user, first.public_id)
    assert ref_lookup(KeyPair.objects.filter(owner=user), first.public_id) == first
    assert ref_lookup(KeyPair.objects.filter(owner=user), impostor.public_id) == impostor


def test_appliances_use_the_same_lookup_with_their_slug(catalog):
    app = appliance_get(ref="debian-12")
    assert appliance_get(ref=app.public_id) == app
    with pytest.raises(NotFound):
        appliance_get(ref="nope")


def test_the_models_and_the_migrations_agree():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # SystemExit(1) if a migration is missing
