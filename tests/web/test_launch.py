"""The request form: quota display, validation messages on the right fields, nothing left behind."""
from __future__ import annotations

import re

import pytest

from provisioning.models import Claim, Event, Instance, KeyPair, SecurityGroup
from provisioning.services.quotas import quota_set
from tests.factories import instance_factory
from tests.fixtures_domain import drain

from .conftest import launch_data

pytestmark = pytest.mark.django_db
URL = "/appliances/ubuntu-lamp/launch/"


def nothing_created() -> bool:
    return not Instance.objects.exists() and not Claim.objects.exists() and not KeyPair.objects.exists()


def field_errors(body: str, field: str) -> list[str]:
    """The messages in a field's error list (Django renders <ul id="id_<field>_error">)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', body, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1), re.S) if match else []


def test_form_disables_types_below_the_minimum_with_the_reason(web, catalog):
    body = web.get("/appliances/windows-server-2019/launch/").content.decode()
    nano = re.search(r'<option value="t3.nano"[^>]*>([^<]*)</option>', body)
    assert "disabled" in nano.group(0)
    assert "below the minimum: needs 2 vCPU, 4 GiB memory, 40 GiB disk" in nano.group(1)
    medium = re.search(r'<option value="t3.medium"[^>]*>', body).group(0)
    assert "disabled" not in medium and "selected" in medium  # the smallest type that fits
    assert 'value="3389"' in body  # Windows: an RDP rule by default
    assert 'value="22"' in web.get(URL).content.decode()  # Linux: SSH


def test_form_shows_remaining_quota_and_the_live_panel_turns_red(web, catalog, user):
    quota_set(user=user, instances=5, vcpus=8, memory_mib=8192)
    body = web.get(URL).content.decode()
    assert 'id="quota"' in body and "5 left" in body and "8 left" in body and "8 GiB left" in body
    assert 'hx-get="/appliances/ubuntu-lamp/launch/quota/"' in body
    assert "change from:#id_instance_type" in body and 'hx-include="#id_instance_type, #id_count"' in body
    ok = web.get(URL + "quota/?instance_type=t3.small&count=2").content.decode()
    assert "exceeds" not in ok and "2 × t3.small fits your quota" in ok
    bad = web.get(URL + "quota/?instance_type=t3.medium&count=3").content.decode()
    assert 'class="card quota exceeds"' in bad
    assert ("Quota exceeded — memory: limit 8 GiB, in use 0 GiB, requested 12 GiB. At most 2 fit; lower the "
            "count or pick a smaller type.") in bad


def test_a_quota_lowered_below_what_runs_says_so(web, catalog, user):
    instance_factory(user, 3, min_count=1)
    quota_set(user=user, instances=1, vcpus=8, memory_mib=8192)
    panel = web.get(URL + "quota/?instance_type=t3.small&count=1").content.decode()
    assert "3 used, over the limit of 1" in panel and "3 of 1 used" not in panel
    assert "6 of 8 used" in panel  # vCPUs, still within the limit


def test_unknown_instance_type_is_a_field_error(web, catalog):
    response = web.post(URL, launch_data(instance_type="t9.huge"))
    assert response.status_code == 200
    errors = field_errors(response.content.decode(), "instance_type")
    assert errors and "t9.huge" in errors[0]
    assert nothing_created()


def test_type_below_the_appliance_minimum_is_refused_with_the_reason(web, catalog):
    response = web.post("/appliances/windows-server-2019/launch/",
                        launch_data(instance_type="t3.micro", key_mode="create", new_key_name="k1"))
    errors = field_errors(response.content.decode(), "instance_type")
    assert errors and "is below what Windows Server 2019 Datacenter needs" in errors[0]
    assert "Pick a larger type" in errors[0]
    assert nothing_created()


def test_user_data_over_16_kib_is_refused_and_the_new_key_pair_rolled_back(web, catalog):
    response = web.post(URL, launch_data(user_data="x" * 16385, key_mode="create", new_key_name="laptop"))
    body = response.content.decode()
    errors = field_errors(body, "user_data")
    assert errors == ["User data is 16385 bytes; the limit is 16 KiB (16384 bytes)."]
    assert "The request was not launched." in body
    assert nothing_created()
    assert not SecurityGroup.objects.exists()


def test_malformed_public_key_is_a_field_error(web, catalog):
    response = web.post(URL, launch_data(key_mode="import", import_key_name="mine", public_key="ssh-rsa nope"))
    errors = field_errors(response.content.decode(), "public_key")
    assert errors and "not a valid OpenSSH public key" in errors[0]
    assert nothing_created()


def test_key_mode_needs_its_fields(web, catalog):
    body = web.post(URL, launch_data(key_mode="create", new_key_name="")).content.decode()
    assert field_errors(body, "new_key_name") == ["Give the new key pair a name."]
    body = web.post(URL, launch_data(key_mode="existing")).content.decode()
    assert field_errors(body, "key_mode")  # no key pairs yet: "existing" is not offered
    assert nothing_created()


def test_existing_key_must_be_chosen(web, catalog, user, public_key):
    from provisioning.services.keypairs import keypair_import

    keypair_import(user=user, name="mine", public_key=public_key)
    body = web.post(URL, launch_data(key_mode="existing", key_name="")).content.decode()
    assert field_errors(body, "key_name") == ["Choose one of your key pairs, or pick another option."]
    body = web.post(URL, launch_data(key_mode="existing", key_name="gone")).content.decode()
    assert field_errors(body, "key_name")
    assert not Instance.objects.exists()


def test_duplicate_key_pair_name_is_a_field_error(web, catalog, user, public_key):
    from provisioning.services.keypairs import keypair_import

    keypair_import(user=user, name="laptop", public_key=public_key)
    body = web.post(URL, launch_data(key_mode="create", new_key_name="laptop")).content.decode()
    assert "already have a key pair named" in field_errors(body, "new_key_name")[0]
    assert not Instance.objects.exists() and KeyPair.objects.count() == 1


def test_bad_rules_are_shown_on_their_rows(web, catalog):
    body = web.post(URL, launch_data(rule_protocol=["tcp", "udp"], rule_ports=["http", "53"],
                                     rule_cidr=["0.0.0.0/0", "999.0.0.0/8"])).content.decode()
    assert 'id="rule-error-1">ports must be whole numbers' in body
    assert 'id="rule-error-2">&#x27;999.0.0.0/8&#x27; is not an IPv4 CIDR' in body
    assert "The request was not launched." in body
    assert '<a href="#rule-rows">Rule 1</a>: ports must be whole numbers' in body  # the summary links to it
    assert nothing_created()


def test_every_bad_field_is_named_at_once(web, catalog):
    body = web.post("/appliances/windows-server-2019/launch/", launch_data(
        instance_type="t3.nano", user_data="x" * 20000, key_mode="import", import_key_name="k",
        public_key="ssh-ed25519 nope", rule_ports=["none"])).content.decode()
    assert field_errors(body, "instance_type") and field_errors(body, "user_data")
    assert field_errors(body, "public_key") and 'id="rule-error-1"' in body
    assert nothing_created()


def test_count_out_of_range(web, catalog):
    body = web.post(URL, launch_data(count="0")).content.decode()
    assert field_errors(body, "count")
    assert nothing_created()


def test_quota_exceeded_is_shown_in_the_form(web, catalog, user):
    quota_set(user=user, instances=1, vcpus=40, memory_mib=163840)
    body = web.post(URL, launch_data(count="2", key_mode="create", new_key_name="k")).content.decode()
    assert "Quota exceeded — instances: limit 1, in use 0, requested 2" in body
    assert 'class="card quota exceeds"' in body
    assert nothing_created()


def test_no_capacity_shows_the_per_filter_explanation(web, catalog, user):
    from provisioning.models import Host

    Host.objects.update(state="maintenance")
    response = web.post(URL, launch_data(key_mode="create", new_key_name="k"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="capacity-error"' in body and "No host can take" in body and "in maintenance" in body
    assert nothing_created()
    refused = Event.objects.get(action="request.refused")
    assert refused.owner == user and "in maintenance" in refused.message


def test_no_javascript_add_rule_keeps_the_input(web, catalog):
    body = web.post(URL, launch_data(name="keep-me", add_rule="1", instance_type="m5.large", count="2"))
    body = body.content.decode()
    assert "this request: <strong>16 GiB</strong>" in body  # the quota panel follows the typed type and count
    assert body.count('name="rule_ports"') == 2 and 'value="keep-me"' in body
    assert "errorlist" not in body
    assert nothing_created()
    row = web.get("/launch/rule-row/").content.decode()
    assert row.strip().startswith("<tr") and 'name="rule_cidr" value="0.0.0.0/0"' in row


def test_launch_one_then_running_with_ssh_credentials(web, catalog, user):
    response = web.post(URL, launch_data(name="web-1", key_mode="create", new_key_name="laptop",
                                         instance_type="t3.medium"))
    inst = Instance.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/instances/{inst.public_id}/"
    assert inst.name == "web-1" and inst.key_name == "laptop" and inst.state == "pending"
    group = inst.security_groups.get()
    assert group.name.startswith("launch-wizard-") and str(group.rules.get()) == "TCP 22 from 0.0.0.0/0"
    page = web.get(response["Location"]).content.decode()
    assert "Launching " + inst.public_id in page and "BEGIN OPENSSH PRIVATE KEY" in page
    drain()
    inst.refresh_from_db()
    assert inst.state == "running"
    page = web.get(inst.get_absolute_url()).content.decode()
    assert 'badge badge-green">running<' in page
    assert f"ssh -i laptop.pem ubuntu@{inst.private_ip}" in page
    assert "Reveal password" not in page


def test_launch_several_goes_to_my_instances(web, catalog):
    # The second rule row was added and left empty: it is ignored, not an error.
    response = web.post(URL, launch_data(name="node", count="3", rule_protocol=["tcp", "tcp", "icmp"],
                                         rule_ports=["80-81", "", ""], rule_cidr=["10.0.0.0/8", "0.0.0.0/0", ""]))
    assert response.status_code == 302 and response["Location"] == "/instances/"
    assert sorted(Instance.objects.values_list("name", flat=True)) == ["node-1", "node-2", "node-3"]
    group = SecurityGroup.objects.get(name__startswith="launch-wizard-")
    assert [str(r) for r in group.rules.all()] == ["TCP 80-81 from 10.0.0.0/8"]
    body = web.get("/instances/").content.decode()
    assert "Launching 3 instances of Ubuntu LAMP" in body


def test_existing_key_and_groups(web, catalog, user, public_key):
    from provisioning.services.keypairs import keypair_import
    from provisioning.services.security_groups import security_group_default

    keypair_import(user=user, name="mine", public_key=public_key)
    security_group_default(user=user)
    form = web.get(URL).content.decode()
    assert re.search(r'<input type="radio" name="key_mode" value="existing"[^>]*checked', form)
    assert 'name="security_groups" value="default"' in form
    response = web.post(URL, launch_data(key_mode="existing", key_name="mine", security_groups=["default"],
                                         rule_protocol=[], rule_ports=[], rule_cidr=[]))
    assert response.status_code == 302
    inst = Instance.objects.get()
    assert inst.key_name == "mine"
    assert list(inst.security_groups.values_list("name", flat=True)) == ["default"]


def test_password_is_revealed_once(web, catalog):
    web.post(URL, launch_data(key_mode="none"))
    inst = Instance.objects.get()
    page = web.get(inst.get_absolute_url()).content.decode()
    assert "Available when the instance is running." in page and "Reveal password" not in page
    drain()
    page = web.get(inst.get_absolute_url()).content.decode()
    assert "Reveal password" in page and f"ssh ubuntu@{Instance.objects.get().private_ip}" in page
    url = f"/instances/{inst.public_id}/credentials/"
    first = web.post(url, headers={"HX-Request": "true"}).content.decode()
    password = re.search(r'id="password-value">([^<]+)<', first).group(1)
    assert len(password) >= 12 and "<html" not in first and "Shown once" in first
    second = web.post(url).content.decode()
    assert password not in second and "already shown" in second and "<html" in second
    assert password not in web.get(inst.get_absolute_url()).content.decode()


def test_private_key_download_works_exactly_once(web, catalog, user):
    web.post(URL, launch_data(key_mode="create", new_key_name="my key"))
    key = KeyPair.objects.get()
    detail = Instance.objects.get().get_absolute_url()
    first = web.get(detail).content.decode()
    assert "BEGIN OPENSSH PRIVATE KEY" in first and f"/keypairs/{key.public_id}/download/" in first
    again = web.get(detail).content.decode()
    assert "BEGIN OPENSSH PRIVATE KEY" not in again  # the text is shown once...
    assert f"/keypairs/{key.public_id}/download/" in again  # ...the download waits until used
    download = web.get(f"/keypairs/{key.public_id}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="my_key.pem"'
    assert download["Cache-Control"] == "no-store"
    assert download.content.decode().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert web.get(f"/keypairs/{key.public_id}/download/").status_code == 410
    assert "download/" not in web.get(detail).content.decode()
    assert "skyport_private_keys" not in web.session or not web.session["skyport_private_keys"]
