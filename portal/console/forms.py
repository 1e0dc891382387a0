"""The console's forms: filter bars (rendered through `web/_field.html`), action forms, the dry run."""
from __future__ import annotations

from django import forms
from django.http import QueryDict

from provisioning.choices import BalancingMode, InstanceState, MigrationStatus, VirtMode
from provisioning.filtersets import CPU_CLASS_CHOICES, HOST_STATE_FILTER_CHOICES
from provisioning.models import Appliance, Host, InstanceType
from provisioning.selectors import appliance_list

from ..web.forms.base import NoColonMixin
from ..web.forms.filtersets import ChoiceFilterField, FilterForm


def _distinct(field: str) -> list[str]:
    return list(Host.objects.order_by(field).values_list(field, flat=True).distinct())


class HostFilterForm(FilterForm):
    q = forms.CharField(label="Search", widget=forms.SearchInput(
        attrs={"placeholder": "Host name or CPU model", "autocomplete": "off"}))
    availability_zone = ChoiceFilterField(label="Zone", any_label="Any zone")
    state = ChoiceFilterField(label="State", choices=HOST_STATE_FILTER_CHOICES, any_label="Any state",
                              noun="state", nouns="states")
    cpu_class = ChoiceFilterField(label="CPU class", choices=CPU_CLASS_CHOICES, any_label="Any CPU class",
                                  noun="CPU class", nouns="CPU classes")
    hypervisor_version = ChoiceFilterField(label="Hypervisor", any_label="Any version")

    def __init__(self, data: QueryDict | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["availability_zone"].choices = [(z, z) for z in _distinct("availability_zone")]
        self.fields["hypervisor_version"].choices = [(v, v) for v in _distinct("hypervisor_version")]


class InstanceFilterForm(FilterForm):
    q = forms.CharField(label="Search", widget=forms.SearchInput(
        attrs={"placeholder": "Instance id, name or IP", "autocomplete": "off"}))
    owner = forms.CharField(label="Tenant", widget=forms.TextInput(attrs={"placeholder": "username"}))
    state = ChoiceFilterField(label="State", choices=InstanceState.choices, any_label="Any state",
                              noun="state", nouns="states")
    host = forms.CharField(label="Host", widget=forms.TextInput(attrs={"placeholder": "hv-01"}))
    availability_zone = ChoiceFilterField(label="Zone", any_label="Any zone")
    appliance = ChoiceFilterField(label="Appliance", any_label="Any appliance")

    def __init__(self, data: QueryDict | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["availability_zone"].choices = [(z, z) for z in _distinct("availability_zone")]
        self.fields["appliance"].choices = list(appliance_list().order_by("name").values_list("slug", "name"))


class MigrationFilterForm(FilterForm):
    q = forms.CharField(label="Search", widget=forms.SearchInput(
        attrs={"placeholder": "Migration or instance id, name", "autocomplete": "off"}))
    status = ChoiceFilterField(label="Status", choices=MigrationStatus.choices, any_label="Any status",
                               noun="status", nouns="statuses")
    host = forms.CharField(label="Host", widget=forms.TextInput(attrs={"placeholder": "source or destination"}))


class ReasonForm(NoColonMixin, forms.Form):
    """Why staff disable, enable or drain a host: kept in the event log and shown on the host."""

    reason = forms.CharField(label="Reason", max_length=255, required=False,
                             widget=forms.TextInput(attrs={"placeholder": "e.g. DIMM errors, ticket OPS-123"}))


class MigrateForm(NoColonMixin, forms.Form):
    """Where a guest goes: a named host, or the scheduler's choice (the placement filters judge either)."""

    destination = forms.ChoiceField(label="Destination", required=False)

    def __init__(self, *args, exclude: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        names = [n for n in Host.objects.filter(state="enabled", is_up=True).order_by("name")
                 .values_list("name", flat=True) if n != exclude]
        self.fields["destination"].choices = [("", "Let the scheduler choose")] + [(n, n) for n in names]


class UpgradeForm(NoColonMixin, forms.Form):
    version = forms.CharField(label="New hypervisor version", max_length=20,
                              widget=forms.TextInput(attrs={"placeholder": "e.g. 2.1"}))


class DryRunForm(NoColonMixin, forms.Form):
    """Where would this request go? (The admin's dry run, moved into the console.)"""

    appliance = forms.ModelChoiceField(queryset=Appliance.objects.all(), to_field_name="slug")
    instance_type = forms.ModelChoiceField(queryset=InstanceType.objects.all(), to_field_name="name",
                                           label="Instance type")
    availability_zone = forms.ChoiceField(required=False, label="Zone")
    virt_mode = forms.ChoiceField(required=False, label="Virtualization",
                                  choices=[("", "best available")] + list(VirtMode.choices))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["availability_zone"].choices = [("", "any zone")] + [
            (z, z) for z in _distinct("availability_zone")]

    def clean(self):
        data = super().clean()
        app, mode = data.get("appliance"), data.get("virt_mode")
        if app and mode and mode not in (app.supported_modes or []):
            self.add_error("virt_mode", f"{app.name} cannot run in {mode} mode; it supports "
                                        f"{', '.join(app.supported_modes)}.")
        return data


THRESHOLD_LEVELS = [
    (1, "1 — conservative: only a badly skewed fleet"), (2, "2"), (3, "3 — default"), (4, "4"),
    (5, "5 — aggressive: even a slight gain"),
]


class ThresholdForm(NoColonMixin, forms.Form):
    """The balancer's threshold level to preview (DRS's migration threshold: 1 moves least, 5 most)."""

    threshold = forms.TypedChoiceField(label="Preview a threshold level", choices=THRESHOLD_LEVELS, coerce=int,
                                       required=False)


class BalancingPolicyForm(NoColonMixin, forms.Form):
    """The balancer's stored policy (DRS's automation level and migration threshold), set by staff."""

    mode = forms.ChoiceField(label="Mode", choices=BalancingMode.choices, widget=forms.RadioSelect)
    threshold = forms.TypedChoiceField(label="Threshold level", choices=THRESHOLD_LEVELS, coerce=int)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "policy_%s")  # the page's preview form has its own `threshold`
        super().__init__(*args, **kwargs)
