"""The Django admin shows the ledgers (claims, events, reservations, migrations) but never adds, changes or deletes
them: a deleted claim of a running instance once left the host's used figures wrong and leaked its
capacity after the terminate."""
from __future__ import annotations

import pytest

from provisioning.models import Claim, Event, Host, Migration, Reservation
from provisioning.services.claims import ledger_audit
from provisioning.services.migrations import migration_start
from tests.factories import instance_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledgers(catalog, user, run_pipeline):
    instance_factory(user)
    run_pipeline()
    claim = Claim.objects.get()
    migration = migration_start(actor="root", instance=claim.instance)
    run_pipeline()
    return {"claim": Claim.objects.get(), "event": Event.objects.first(), "reservation": Reservation.objects.get(),
            "migration": Migration.objects.get(pk=migration.pk)}


@pytest.mark.parametrize("model", ["claim", "event", "reservation", "migration"])
def test_a_ledger_row_is_read_only_in_the_admin(staff, ledgers, model):
    obj = ledgers[model]
    base = f"/admin/provisioning/{model}/"
    listing = staff.get(base)
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()  # no bulk delete action
    assert staff.get(f"{base}add/").status_code == 403
    view = staff.get(f"{base}{obj.pk}/change/")
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()  # a view, not a form
    assert staff.post(f"{base}{obj.pk}/change/", {}).status_code == 403
    assert staff.get(f"{base}{obj.pk}/delete/").status_code == 403
    assert staff.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff.post(base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}).status_code \
        in (200, 302)
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert ledger_audit() == []
    assert Host.objects.filter(instances_used=1).count() == 1
