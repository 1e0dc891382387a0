"""Staff-only operator pages that live inside the Django admin (the admin console)."""
from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from provisioning.choices import VirtMode
from provisioning.models import Appliance, Host, InstanceType
from provisioning.placement import PlacementRequest, dry_run


class DryRunForm(forms.Form):
    appliance = forms.ModelChoiceField(queryset=Appliance.objects.all(), to_field_name="slug")
    instance_type = forms.ModelChoiceField(queryset=InstanceType.objects.all(), to_field_name="name")
    availability_zone = forms.ChoiceField(required=False)
    virt_mode = forms.ChoiceField(required=False, choices=[("", "best available")] + list(VirtMode.choices))

    def clean(self):
        data = super().clean()
        app, mode = data.get("appliance"), data.get("virt_mode")
        if app and mode and mode not in (app.supported_modes or []):
            self.add_error("virt_mode", f"{app.name} cannot run in {mode} mode; it supports "
                                        f"{', '.join(app.supported_modes)}.")
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zones = sorted(set(Host.objects.values_list("availability_zone", flat=True)))
        self.fields["availability_zone"].choices = [("", "any zone")] + [(z, z) for z in zones]


def placement_dry_run(request: HttpRequest, admin_site) -> HttpResponse:
    """Where would this request go, and why not elsewhere? Nothing is claimed."""
    form = DryRunForm(request.GET or None)
    result = None
    if form.is_valid():
        d = form.cleaned_data
        result = dry_run(PlacementRequest(
            appliance=d["appliance"], instance_type=d["instance_type"],
            availability_zone=d["availability_zone"] or "", virt_mode=d["virt_mode"] or "",
        ))
    weigher_names: list[str] = []
    if result and result["candidates"]:
        # Each weigher's share per candidate, in columns (the API gives the same as a dict).
        weigher_names = list(result["candidates"][0]["weights"])
        for c in result["candidates"]:
            c["shares"] = [c["weights"].get(name, 0) for name in weigher_names]
            c["free_memory"] = f"{c['free']['memory_mib'] / 1024:g} GiB"
    context = {**admin_site.each_context(request), "title": "Placement dry run", "form": form, "result": result,
               "weigher_names": weigher_names}
    return render(request, "admin/placement_dry_run.html", context)
