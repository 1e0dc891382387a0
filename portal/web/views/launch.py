"""The request form: validate with the services, launch, and say clearly what to fix."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from portal.visibility import host_label
from provisioning.exceptions import InsufficientCapacity, InvalidRequest, QuotaExceeded, SkyportError
from provisioning.models import Appliance, Reservation
from provisioning.selectors import instance_type_list
from provisioning.services.launch import instance_launch, launch_validate
from provisioning.services.quotas import quota_usage

from .. import private_keys
from ..forms import PROTOCOL_CHOICES, LaunchForm, RuleRow
from .instances import flash_id
from .marketplace import appliance_or_404


def quota_context(user, itype, count: int) -> dict:
    """The quota panel: the service's one check rendered; a refusal of the same request says the same."""
    check = quota_usage(user=user).check(count=count, vcpus=itype.vcpus if itype else 0,
                                         memory_mib=itype.memory_mib if itype else 0)
    return {"quota_rows": check.rows, "quota_exceeds": check.exceeds, "quota_message": check.message,
            "quota_fits": check.fits if itype else None, "quota_type": itype, "quota_count": check.count}


def _parse_count(raw) -> int:
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return 1


def _launch(request: HttpRequest, form: LaunchForm) -> Reservation | None:
    """One call to the launch service; a refusal lands on the form (None), and nothing is left behind."""
    form.capacity_error = None
    form.quota_error = ""
    try:
        result = instance_launch(user=request.user, new_key_pair=form.new_key_pair(), **form.launch_fields())
    except QuotaExceeded as exc:
        form.quota_error = "; ".join(m for msgs in exc.errors.values() for m in msgs)
        form.add_error(None, form.quota_error)
        return None
    except InsufficientCapacity as exc:
        form.capacity_error = exc
        return None
    except InvalidRequest as exc:
        form.add_service_errors(exc.errors)
        return None
    except SkyportError as exc:
        form.add_error(None, exc.message)
        return None
    if result.private_key_pem and not private_keys.remember(request, result.key_pair, result.private_key_pem):
        form.key_now = (result.key_pair, result.private_key_pem)  # the cache is down: show it in the answer
    return result.reservation


def _precheck(form: LaunchForm) -> None:
    """Some fields or rule rows did not parse: still let the service judge the rest.

    Otherwise a user who fixes the count learns only on the next submit that the name or the user
    data is refused as well. `launch_validate` only reads; nothing is created. Only parsed values are
    passed (a NUL byte or a bad choice never reaches a query); the service's errors about fields that
    already carry one are dropped.
    """
    try:
        launch_validate(user=form.user, new_key_pair=form.new_key_pair(), **form.launch_fields())
    except InvalidRequest as exc:
        bad = set(form.errors)
        form.add_service_errors({f: msgs for f, msgs in exc.errors.items() if form.service_field(f) not in bad})


def _launch_context(request: HttpRequest, form: LaunchForm, appliance: Appliance) -> dict:
    count = _parse_count(form.data.get("count") if form.is_bound
                         else form.get_initial_for_field(form.fields["count"], "count"))
    return {
        "section": "marketplace",
        "appliance": appliance,
        "form": form,
        "protocol_choices": PROTOCOL_CHOICES,
        **quota_context(request.user, form.requested_type(), count),
    }


@login_required
@require_http_methods(["GET", "POST"])
def launch(request: HttpRequest, slug: str) -> HttpResponse:
    """The request form: validate with the services, launch, and say clearly what to fix."""
    appliance = appliance_or_404(slug)
    if request.method == "POST" and "add_rule" in request.POST:
        # No-JavaScript "Add rule": re-render what was typed with one more (empty) row.
        form = LaunchForm(request.POST, user=request.user, appliance=appliance)
        rows = form.rule_rows + [RuleRow(cidr="0.0.0.0/0")]
        form = LaunchForm(initial=_initial_from_post(request.POST), user=request.user, appliance=appliance)
        form.rule_rows = rows
        return render(request, "web/launch.html", _launch_context(request, form, appliance))
    if request.method == "POST":
        form = LaunchForm(request.POST, user=request.user, appliance=appliance)
        if form.is_valid():
            reservation = _launch(request, form)
            if reservation is not None and getattr(form, "key_now", None):
                return private_keys.show_now(request, *form.key_now, next_url=reverse("instances"),
                                             next_label="My instances")
            if reservation is not None:
                instances = list(reservation.instances.order_by("id"))
                if len(instances) == 1:
                    inst = instances[0]
                    messages.success(request, f"Launching {inst.public_id} ({appliance.name}, "
                                              f"{inst.instance_type.name}) on "
                                              f"{host_label(inst.host, request.user)}.",
                                     extra_tags=flash_id(inst))
                    return redirect(inst.get_absolute_url())
                messages.success(request, f"Launching {len(instances)} instances of {appliance.name} "
                                          f"(reservation {reservation.public_id}).")
                return redirect("instances")
        else:
            # Even with bad fields or rule rows, let the service check everything else: every
            # bad field is named at once, and nothing is created unless all is well.
            _precheck(form)
        context = _launch_context(request, form, appliance)
        return render(request, "web/launch.html", context)
    form = LaunchForm(user=request.user, appliance=appliance)
    return render(request, "web/launch.html", _launch_context(request, form, appliance))


def _initial_from_post(data) -> dict:
    initial = {k: data.get(k) for k in data if k not in ("security_groups", "csrfmiddlewaretoken")}
    initial["security_groups"] = data.getlist("security_groups")
    return initial


@login_required
@require_GET
def launch_quota(request: HttpRequest, slug: str) -> HttpResponse:
    """The quota panel for the chosen type and count (htmx refreshes it as they change)."""
    appliance = appliance_or_404(slug)
    itype = instance_type_list().filter(name=request.GET.get("instance_type", "")).first()
    context = {"appliance": appliance, **quota_context(request.user, itype, _parse_count(request.GET.get("count")))}
    return render(request, "web/_quota.html", context)


@login_required
@require_GET
def launch_rule_row(request: HttpRequest) -> HttpResponse:
    """One more empty 'new rule' row for the request form."""
    return render(request, "web/_rule_row.html", {
        "row": RuleRow(cidr="0.0.0.0/0"),
        "protocol_choices": PROTOCOL_CHOICES,
    })
