"""Staff dry-run placement in the console (moved from the admin, whose old address redirects)."""
import pytest

from provisioning.models import Claim, Host

pytestmark = pytest.mark.django_db


def test_dry_run_shows_ranked_candidates_and_claims_nothing(client, catalog, staff_user):
    client.force_login(staff_user)
    r = client.get("/console/placement/", {"appliance": "windows-server-2003", "instance_type": "t3.small"})
    assert r.status_code == 200
    body = r.content.decode()
    assert "Would place on <a href=\"/console/hosts/hv-" in body and 'id="candidates"' in body
    assert "hardware-assisted (VT-x/AMD-V)" in body  # mode labels in words
    assert Claim.objects.count() == 0
    # Each weigher's share and each candidate's free capacity, as the API gives them (QA: the page
    # showed the total weight only).
    for name in ("free_memory", "free_vcpu", "image_cache", "page_sharing"):
        assert f"title=\"this weigher's share: score × multiplier\">{name.replace('_', ' ')}</th>" in body
    assert ">Free memory</th>" in body and " GiB</td>" in body
    assert "hosts can take 2 vCPU / 2 GiB" in body  # the summary, not a refusal sentence
    assert "No host can take" not in body


def test_dry_run_explains_an_impossible_request(client, catalog, staff_user):
    Host.objects.filter(availability_zone="sky-1b").update(state="maintenance")
    client.force_login(staff_user)
    r = client.get("/console/placement/", {"appliance": "ubuntu-22-04", "instance_type": "m5.4xlarge",
                                                 "availability_zone": "sky-1b"})
    body = r.content.decode()
    assert "No host in sky-1b can take 16 vCPU / 64 GiB" in body
    assert "in maintenance" in body


def test_dry_run_needs_staff(client, catalog, user):
    client.force_login(user)
    assert client.get("/console/placement/").status_code == 403


def test_the_old_admin_address_redirects_to_the_console(client, catalog, staff_user):
    client.force_login(staff_user)
    r = client.get("/admin/placement/dry-run/", {"appliance": "ubuntu-22-04", "instance_type": "t3.small"})
    assert r.status_code == 301
    assert r["Location"] == "/console/placement/?appliance=ubuntu-22-04&instance_type=t3.small"


def test_dry_run_refuses_a_mode_the_appliance_cannot_run(client, catalog, staff_user):
    client.force_login(staff_user)
    r = client.get("/console/placement/", {"appliance": "windows-server-2003", "instance_type": "t3.small",
                                                 "virt_mode": "container"})
    assert r.status_code == 200
    assert "cannot run in container mode" in r.content.decode()
