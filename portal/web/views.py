"""Web pages and their htmx fragments. Thin: parse, authorize, call one service or selector, render.

One copy of markup (NetBox style): every full page includes the fragment that htmx swaps, and a
view answers a non-boosted htmx request with the fragment alone.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from provisioning.choices import FINAL_STATES, STATE_COLOURS, Architecture, InstanceState, OsFamily, VirtMode
from provisioning.exceptions import InsufficientCapacity, InvalidRequest, NotFound, QuotaExceeded, SkyportError
from provisioning.filtersets import ApplianceFilterSet, InstanceFilterSet
from provisioning.lifecycle import TRANSITIONS, actions_allowed
from provisioning.models import Appliance, Instance, Reservation
from provisioning.selectors import (
    appliance_get,
    appliance_list,
    instance_events,
    instance_get,
    instance_list,
    instance_type_list,
    keypair_list,
)
from provisioning.services.instances import instance_action, instance_credentials
from provisioning.services.keypairs import keypair_create, keypair_delete, keypair_get, keypair_import, pem_filename
from provisioning.services.launch import instance_launch, launch_validate
from provisioning.services.quotas import quota_usage

from .forms import KeyPairCreateForm, KeyPairImportForm, LaunchForm, RuleRow, SignupForm, type_shortfall

APPLIANCES_PER_PAGE = 12
INSTANCES_PER_PAGE = 20
SESSION_KEYS = "skyport_private_keys"  # key id -> {"name", "pem", "shown"}; deleted once downloaded


# --------------------------------------------------------------------------- helpers
def is_fragment_request(request: HttpRequest) -> bool:
    """A non-boosted htmx request (not a history restore) gets the fragment, anything else the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def mib_label(mib: int) -> str:
    """512 -> '512 MiB', 1536 -> '1.5 GiB', 10240 -> '10 GiB'."""
    if mib < 1024:
        return f"{mib} MiB"
    return f"{mib / 1024:.1f}".rstrip("0").rstrip(".") + " GiB"


def mode_label(mode: str) -> str:
    try:
        return VirtMode(mode).label
    except ValueError:
        return mode.replace("_", " ")


CATEGORY_LABELS = {"os": "Base OS", "cms": "CMS", "devops": "DevOps", "web": "Web stack"}


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category.lower(), category.capitalize())


def _present_appliance(app: Appliance) -> Appliance:
    """Attach display strings (the template language has no arithmetic)."""
    app.min_memory_label = mib_label(app.min_memory_mib)
    app.image_size_label = mib_label(app.image_size_mib)
    app.mode_labels = [mode_label(m) for m in app.supported_modes or []]
    app.arch_label = "64-bit" if app.architecture == "x86_64" else "32-bit"
    app.category_label = category_label(app.category)
    return app


def private_keys_for_display(request: HttpRequest) -> list[dict]:
    """Private keys of newly created key pairs that wait in the session for their one download.

    The PEM text is shown on the first page rendered after creation only; later pages keep the
    one-time download link until it is used.
    """
    keys = request.session.get(SESSION_KEYS) if request.user.is_authenticated else None
    if not keys:
        return []
    out = []
    for key_id, entry in keys.items():
        out.append({"id": key_id, "name": entry["name"], "filename": pem_filename(entry["name"]),
                    "pem": "" if entry.get("shown") else entry["pem"]})
        entry["shown"] = True
    request.session.modified = True
    return out



def remember_private_key(request: HttpRequest, key_pair, pem: str) -> None:
    keys = request.session.get(SESSION_KEYS) or {}
    keys[key_pair.public_id] = {"name": key_pair.name, "pem": pem, "shown": False}
    request.session[SESSION_KEYS] = keys


def page(request: HttpRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    """Render a full page with what every page shows (pending private-key downloads)."""
    context.setdefault("private_keys", private_keys_for_display(request))
    return render(request, template, context, status=status)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


def flash_id(inst: Instance) -> str:
    """DOM id of the "Launching/Stopping i-…" flash message, so the last progress poll can remove it."""
    return f"flash-{inst.public_id}"


def _own_instance(request: HttpRequest, public_id: str) -> Instance:
    """The caller's instance, or 404 (never 403: another user's instance does not exist for you)."""
    try:
        return instance_get(user=request.user, public_id=public_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages without a <link rel="icon"> (admin, Swagger UI, the browsable API) ask for /favicon.ico."""
    return redirect(static("img/skyport.svg"), permanent=True)


# --------------------------------------------------------------------------- auth
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("marketplace")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Skyport, {user.username}. Pick an appliance to launch.")
        return redirect(_safe_next(request, reverse("marketplace")))
    return page(request, "registration/signup.html", {"form": form, "next": request.GET.get("next", "")})


# --------------------------------------------------------------------------- list filters
# Choice filters a hand-edited URL can get wrong: (singular, plural) for the notice.
FILTER_NOUNS = {"os_family": ("operating system", "operating systems"),
                "architecture": ("architecture", "architectures"),
                "virt_mode": ("virtualization mode", "virtualization modes"),
                "state": ("state", "states")}


def filter_problems(form, params) -> tuple[dict[str, str], list[str]]:
    """(field -> form error, notices) for choice filters whose value is unknown.

    django-filter drops an invalid filter and lists everything; say so instead of ignoring it.
    """
    if not form.is_bound or form.is_valid():
        return {}, []
    errors, notices = {}, []
    for name, (one, many) in FILTER_NOUNS.items():
        if name not in form.errors:
            continue
        valid = {str(value) for value, _ in form.fields[name].choices}
        bad = [v for v in params.getlist(name) if v and v not in valid]
        shown = ", ".join(f"'{v[:40]}{'…' if len(v) > 40 else ''}'" for v in bad[:3]) or "value"
        errors[name] = f"Unknown {one} {shown}: pick one from the list."
        notices.append(f"Unknown {one} {shown} — showing all {many}.")
    return errors, notices


# --------------------------------------------------------------------------- marketplace
def _marketplace_filters_summary(fs: ApplianceFilterSet) -> str:
    if not fs.is_bound or not fs.form.is_valid():
        return ""
    d = fs.form.cleaned_data
    parts = []
    if d.get("q"):
        parts.append(f"“{d['q']}”")
    if d.get("os_family"):
        parts.append(f"OS {OsFamily(d['os_family']).label}")
    if d.get("category"):
        parts.append(f"category {category_label(d['category'])}")
    if d.get("architecture"):
        parts.append(Architecture(d["architecture"]).label)
    if d.get("virt_mode"):
        parts.append(mode_label(d["virt_mode"]))
    return ", ".join(parts)


@require_GET
@vary_on_headers("HX-Request")
def marketplace(request: HttpRequest) -> HttpResponse:
    """Browse and search the appliance catalog (public); htmx live filtering swaps the results."""
    params = request.GET.copy()
    params.pop("page", None)
    fs = ApplianceFilterSet(params or None, queryset=appliance_list())
    qs = fs.qs
    paginator = Paginator(qs, APPLIANCES_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    for app in page_obj.object_list:
        _present_appliance(app)
    form = fs.form
    cleaned = form.cleaned_data if form.is_bound and form.is_valid() else {}
    field_errors, notices = filter_problems(form, params)
    categories = [(c, category_label(c)) for c in sorted(
        {c for c in appliance_list().values_list("category", flat=True) if c})]
    context = {
        "section": "marketplace",
        "filterset": fs,
        "page_obj": page_obj,
        "page_range": paginator.get_elided_page_range(page_obj.number, on_each_side=2, on_ends=1),
        "total": appliance_list().count(),
        "filters_summary": _marketplace_filters_summary(fs),
        "filtered": bool(fs.is_bound and any(cleaned.values())),
        "values": {k: request.GET.get(k, "") for k in ("q", "os_family", "category", "architecture", "virt_mode")},
        "os_choices": OsFamily.choices,
        "arch_choices": Architecture.choices,
        "mode_choices": VirtMode.choices,
        "categories": categories,
        "field_errors": field_errors,
        "filter_notices": notices,
        "filter_error_fields": [(f, field_errors.get(f, "")) for f in ("os_family", "architecture", "virt_mode")],
    }
    if is_fragment_request(request):
        # The fragment also updates the page's live status line (out of band) for screen readers.
        return render(request, "web/_appliance_results.html", {**context, "fragment": True})
    return page(request, "web/marketplace.html", context)


@require_GET
def appliance_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        app = _present_appliance(appliance_get(ref=slug))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    types = [(t, type_shortfall(t, app)) for t in instance_type_list()]
    fitting = [t for t, short in types if not short]
    context = {"section": "marketplace", "appliance": app, "smallest_fit": fitting[0] if fitting else None,
               "fitting_count": len(fitting), "types_count": len(types)}
    return page(request, "web/appliance_detail.html", context)


# --------------------------------------------------------------------------- launch
def _appliance_or_404(slug: str) -> Appliance:
    try:
        return _present_appliance(appliance_get(ref=slug))
    except NotFound as exc:
        raise Http404(exc.message) from exc


def quota_context(user, itype, count: int) -> dict:
    """What the request asks for against what the user has left, row by row."""
    usage = quota_usage(user=user)
    count = max(1, count)
    table = [
        ("Instances", count, usage.used_instances, usage.limit_instances, str),
        ("vCPUs", itype.vcpus * count if itype else 0, usage.used_vcpus, usage.limit_vcpus, str),
        ("Memory", itype.memory_mib * count if itype else 0, usage.used_memory_mib, usage.limit_memory_mib, mib_label),
    ]
    rows = []
    for label, ask, used, limit, fmt in table:
        remaining = max(0, limit - used)
        percent = min(100, round(100 * used / limit)) if limit else 100
        rows.append({
            "label": label, "used": fmt(used), "limit": fmt(limit), "remaining": fmt(remaining), "ask": fmt(ask),
            "exceeds": ask > remaining, "percent": percent,
            # A quota lowered below what is running: say so instead of "27 of 1 used".
            "usage": f"{fmt(used)} used, over the limit of {fmt(limit)}" if used > limit
            else f"{fmt(used)} of {fmt(limit)} used",
            "ask_percent": min(100 - percent, round(100 * ask / limit)) if limit else 0,
        })
    fits = usage.fits(vcpus=itype.vcpus, memory_mib=itype.memory_mib) if itype else None
    exceeds = any(r["exceeds"] for r in rows)
    message = ""
    if itype and exceeds:
        over = ", ".join(r["label"] if r["label"] == "vCPUs" else r["label"].lower() for r in rows if r["exceeds"])
        message = (f"{count} × {itype.name} would exceed your quota ({over}). "
                   + (f"At most {fits} fit{'s' if fits == 1 else ''}; lower the count or pick a smaller type."
                      if fits else "Terminate instances you no longer need or ask an operator for more."))
    return {"quota_rows": rows, "quota_exceeds": exceeds, "quota_message": message, "quota_fits": fits,
            "quota_type": itype, "quota_count": count}


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
    if result.private_key_pem:
        remember_private_key(request, result.key_pair, result.private_key_pem)
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
        "protocol_choices": [("tcp", "TCP"), ("udp", "UDP"), ("icmp", "ICMP"), ("-1", "All traffic")],
        **quota_context(request.user, form.requested_type(), count),
    }


@login_required
@require_http_methods(["GET", "POST"])
def launch(request: HttpRequest, slug: str) -> HttpResponse:
    """The request form: validate with the services, launch, and say clearly what to fix."""
    appliance = _appliance_or_404(slug)
    if request.method == "POST" and "add_rule" in request.POST:
        # No-JavaScript "Add rule": re-render what was typed with one more (empty) row.
        form = LaunchForm(request.POST, user=request.user, appliance=appliance)
        rows = form.rule_rows + [RuleRow(cidr="0.0.0.0/0")]
        form = LaunchForm(initial=_initial_from_post(request.POST), user=request.user, appliance=appliance)
        form.rule_rows = rows
        return page(request, "web/launch.html", _launch_context(request, form, appliance))
    if request.method == "POST":
        form = LaunchForm(request.POST, user=request.user, appliance=appliance)
        if form.is_valid():
            reservation = _launch(request, form)
            if reservation is not None:
                instances = list(reservation.instances.order_by("id"))
                if len(instances) == 1:
                    inst = instances[0]
                    messages.success(request, f"Launching {inst.public_id} ({appliance.name}, "
                                              f"{inst.instance_type.name}) on {inst.host.name}.",
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
        return page(request, "web/launch.html", context, status=200)
    form = LaunchForm(user=request.user, appliance=appliance)
    return page(request, "web/launch.html", _launch_context(request, form, appliance))


def _initial_from_post(data) -> dict:
    initial = {k: data.get(k) for k in data if k not in ("security_groups", "csrfmiddlewaretoken")}
    initial["security_groups"] = data.getlist("security_groups")
    return initial


@login_required
@require_GET
def launch_quota(request: HttpRequest, slug: str) -> HttpResponse:
    """The quota panel for the chosen type and count (htmx refreshes it as they change)."""
    appliance = _appliance_or_404(slug)
    itype = instance_type_list().filter(name=request.GET.get("instance_type", "")).first()
    context = {"appliance": appliance, **quota_context(request.user, itype, _parse_count(request.GET.get("count")))}
    return render(request, "web/_quota.html", context)


@login_required
@require_GET
def launch_rule_row(request: HttpRequest) -> HttpResponse:
    """One more empty 'new rule' row for the request form."""
    return render(request, "web/_rule_row.html", {
        "row": RuleRow(cidr="0.0.0.0/0"),
        "protocol_choices": [("tcp", "TCP"), ("udp", "UDP"), ("icmp", "ICMP"), ("-1", "All traffic")],
    })


# --------------------------------------------------------------------------- instances
def _present_instance(inst: Instance) -> Instance:
    inst.actions = actions_allowed(inst)
    inst.colour = STATE_COLOURS.get(inst.state, "grey")
    inst.busy = not is_final(inst)
    return inst


def is_final(inst: Instance) -> bool:
    """Nothing more will happen by itself: a final state and no pipeline step pending."""
    return inst.state in FINAL_STATES and not inst.step and not inst.task


@login_required
@require_GET
@vary_on_headers("HX-Request")
def instances(request: HttpRequest) -> HttpResponse:
    """My instances: filter by state, quick actions, rows refresh while any instance is busy."""
    base = instance_list(user=request.user)
    fs = InstanceFilterSet(request.GET or None, queryset=base)
    paginator = Paginator(fs.qs, INSTANCES_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    rows = [_present_instance(i) for i in page_obj.object_list]
    field_errors, notices = filter_problems(fs.form, request.GET)
    state = "" if "state" in field_errors else request.GET.get("state", "")
    context = {
        "section": "instances",
        "page_obj": page_obj,
        "rows": rows,
        "page_range": paginator.get_elided_page_range(page_obj.number, on_each_side=2, on_ends=1),
        "any_busy": any(i.busy for i in rows),
        "has_any": base.exists(),
        "state": state,
        "q": request.GET.get("q", ""),
        "state_choices": InstanceState.choices,
        "filtered": bool(state or request.GET.get("q")),
        "field_errors": field_errors,
        "filter_notices": notices,
    }
    if is_fragment_request(request):
        return render(request, "web/_instance_table.html", {**context, "fragment": True})
    return page(request, "web/instances.html", context)


LAUNCH_STEPS = [("scheduling", "Scheduling"), ("copying_image", "Copying image"), ("booting", "Booting"),
                ("configuring", "Configuring"), ("running", "Running")]
START_STEPS = [("powering_on", "Powering on"), ("booting", "Booting"), ("configuring", "Configuring"),
               ("running", "Running")]
# Events the launch pipeline writes when each step starts (to show where a failed launch stopped).
STEP_EVENTS = {"instance.request": "scheduling", "instance.copy_image": "copying_image",
               "instance.boot": "booting", "instance.configure": "configuring"}


def _steps(sequence: list[tuple[str, str]], current: str | None, *, failed: bool = False) -> list[dict]:
    keys = [k for k, _ in sequence]
    index = keys.index(current) if current in keys else len(keys)
    out = []
    for i, (key, label) in enumerate(sequence):
        status = "done" if i < index else ("current" if i == index else "todo")
        if failed and i == index:
            status = "failed"
        out.append({"key": key, "label": label, "status": status})
    return out


def pipeline_steps(inst: Instance) -> tuple[str, list[dict]]:
    """The steps of what the instance is going through now, each done / current / failed / to do."""
    state, task = inst.state, inst.task
    if state == "pending":
        if inst.launched_at is None:
            return "Launch", _steps(LAUNCH_STEPS, task or "scheduling")
        return "Start", _steps(START_STEPS, task or "powering_on")
    if state == "running" and task == "rebooting":
        return "Reboot", _steps([("rebooting", "Rebooting"), ("running", "Running")], "rebooting")
    if state == "running":
        if task:
            return "Working", _steps([(task, inst.get_task_display()), ("running", "Running")], task)
        # Idle: show what brought it here last (a reboot or a start is not a launch).
        last = (instance_events(instance=inst).filter(action__in=("instance.request", "instance.start",
                                                                   "instance.reboot"))
                .order_by("-id").values_list("action", flat=True).first())
        if last == "instance.reboot":
            return "Reboot", _steps([("rebooting", "Rebooting"), ("running", "Running")], None)
        if last == "instance.start":
            return "Start", _steps(START_STEPS, None)
        return "Launch", _steps(LAUNCH_STEPS, None)
    if state in ("stopping", "stopped"):
        return "Stop", _steps([("powering_off", "Powering off"), ("stopped", "Stopped")],
                              "powering_off" if state == "stopping" else None)
    if state in ("shutting-down", "terminated"):
        return "Terminate", _steps([("deleting", "Shutting down"), ("terminated", "Terminated")],
                                   "deleting" if state == "shutting-down" else None)
    # error: show how far the launch got before it failed
    reached = "scheduling"
    for action in instance_events(instance=inst).order_by("id").values_list("action", flat=True):
        reached = STEP_EVENTS.get(action, reached)
    if inst.launched_at is not None:
        return "Failed", _steps([("error", "Error")], "error", failed=True)
    return "Launch failed", _steps(LAUNCH_STEPS[:-1] + [("error", "Error")], reached, failed=True)


def credentials_context(inst: Instance, *, revealed: dict | None = None) -> dict:
    """What the credentials panel shows, without consuming the one-time password."""
    windows = inst.appliance.os_family == "windows"
    ip = inst.private_ip or "<private IP>"
    if windows:
        connect = f"Remote Desktop (RDP) to {ip}:3389 as {inst.login_user}"
    elif inst.key_name:
        connect = f"ssh -i {pem_filename(inst.key_name)} {inst.login_user}@{ip}"
    else:
        connect = f"ssh {inst.login_user}@{ip}"
    uses_password = windows or not inst.key_name
    return {
        "creds_username": inst.login_user or inst.appliance.default_user,
        "creds_connect": connect,
        "creds_uses_password": uses_password,
        "creds_ready": inst.state == "running" and bool(inst.private_ip),
        # Only once nothing is pending: the live region stops polling then, so a revealed
        # password is not swapped away by the next poll.
        "creds_can_reveal": is_final(inst) and inst.state == "running" and bool(inst.initial_password)
        and not inst.credentials_shown_at,
        "creds_shown_at": inst.credentials_shown_at,
        "creds_password": (revealed or {}).get("password"),
    }


def instance_context(inst: Instance) -> dict:
    _present_instance(inst)
    title, steps = pipeline_steps(inst)
    groups = list(inst.security_groups.prefetch_related("rules"))
    return {
        "section": "instances",
        "instance": inst,
        "final": is_final(inst),
        "steps_title": title,
        "steps": steps,
        "events": list(instance_events(instance=inst)[:50]),
        "groups": groups,
        "memory_label": mib_label(inst.instance_type.memory_mib),
        "mode_label": mode_label(inst.virt_mode) if inst.virt_mode else "",
        **credentials_context(inst),
    }


@login_required
@require_GET
def instance_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    inst = _own_instance(request, public_id)
    context = instance_context(inst)
    # The flash lives outside the polled region; the final poll deletes it out of band, so a
    # stand-in must exist when there is none (htmx reports an OOB swap without a target).
    context["flash_id"] = flash_id(inst)
    context["has_flash"] = any(m.extra_tags == context["flash_id"] for m in messages.get_messages(request))
    return page(request, "web/instance_detail.html", context)


@login_required
@require_GET
def instance_progress(request: HttpRequest, public_id: str) -> HttpResponse:
    """The live fragment, polled every second; HTTP 286 tells htmx to stop once nothing is pending."""
    inst = _own_instance(request, public_id)
    context = instance_context(inst)
    context["announce"] = context["final"]  # the last poll tells screen readers how it ended
    response = render(request, "web/_instance_live.html", context)
    if context["final"]:
        response.status_code = 286
    return response


@login_required
@require_POST
def instance_do(request: HttpRequest, public_id: str, action: str) -> HttpResponse:
    """stop / start / reboot / terminate (POST + CSRF only); terminate is confirmed first."""
    inst = _own_instance(request, public_id)
    if action not in TRANSITIONS:
        raise Http404(f"No action '{action}'.")
    back = _safe_next(request, inst.get_absolute_url())
    if action == "terminate" and request.POST.get("confirm") != "yes":
        _present_instance(inst)
        return page(request, "web/instance_confirm_terminate.html",
                    {"section": "instances", "instance": inst, "next": back})
    try:
        instance_action(user=request.user, instance=inst, action=action)
    except SkyportError as exc:
        messages.error(request, exc.message)
    else:
        verb = {"stop": "Stopping", "start": "Starting", "reboot": "Rebooting", "terminate": "Terminating"}[action]
        messages.success(request, f"{verb} {inst.public_id}{f' ({inst.name})' if inst.name else ''}.",
                         extra_tags=flash_id(inst))
    return redirect(back)


@login_required
@require_POST
def instance_reveal_credentials(request: HttpRequest, public_id: str) -> HttpResponse:
    """Reveal the generated password: shown once, then forgotten by the service."""
    inst = _own_instance(request, public_id)
    try:
        revealed = instance_credentials(user=request.user, instance=inst)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    inst.refresh_from_db()
    if is_fragment_request(request):
        ctx = {"instance": inst, **credentials_context(inst, revealed=revealed)}
        return render(request, "web/_credentials.html", ctx)
    context = instance_context(inst)
    context.update(credentials_context(inst, revealed=revealed))
    return page(request, "web/instance_detail.html", context)


# --------------------------------------------------------------------------- key pairs
@login_required
@require_http_methods(["GET", "POST"])
def keypairs(request: HttpRequest) -> HttpResponse:
    """List, create (private key shown once) and import key pairs."""
    create_form = KeyPairCreateForm(prefix="create")
    import_form = KeyPairImportForm(prefix="import")
    if request.method == "POST":
        which = request.POST.get("form")
        try:
            if which == "create":
                create_form = KeyPairCreateForm(request.POST, prefix="create")
                if create_form.is_valid():
                    created = keypair_create(user=request.user, **create_form.cleaned_data)
                    remember_private_key(request, created.key_pair, created.private_key_pem)
                    messages.success(request, f"Key pair {created.key_pair.name} created. Save the private key "
                                              "now: Skyport does not keep it.")
                    return redirect("keypairs")
            elif which == "import":
                import_form = KeyPairImportForm(request.POST, prefix="import")
                if import_form.is_valid():
                    kp = keypair_import(user=request.user, **import_form.cleaned_data)
                    messages.success(request, f"Key pair {kp.name} imported ({kp.fingerprint}).")
                    return redirect("keypairs")
        except InvalidRequest as exc:
            target = create_form if which == "create" else import_form
            for fieldname, msgs in exc.errors.items():
                for msg in msgs:
                    target.add_error(fieldname if fieldname in target.fields else None, msg)
    context = {"section": "keypairs", "keys": list(keypair_list(user=request.user)),
               "create_form": create_form, "import_form": import_form,
               "open": request.POST.get("form", "") if request.method == "POST" else ""}
    return page(request, "web/keypairs.html", context)


@login_required
@require_POST
def keypair_remove(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        kp = keypair_get(user=request.user, ref=public_id)
        keypair_delete(user=request.user, ref=kp.public_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    keys = request.session.get(SESSION_KEYS) or {}
    if keys.pop(public_id, None) is not None:
        request.session[SESSION_KEYS] = keys
    messages.success(request, f"Key pair {kp.name} deleted. Instances that use it keep their key.")
    return redirect("keypairs")


@login_required
@require_GET
def keypair_download(request: HttpRequest, public_id: str) -> HttpResponse:
    """The new private key as a .pem file, exactly once: the session forgets it on the way out."""
    keys = request.session.get(SESSION_KEYS) or {}
    entry = keys.pop(public_id, None)
    if entry is None:
        if keypair_list(user=request.user).filter(public_id=public_id).exists():
            return page(request, "web/key_gone.html", {"section": "keypairs"}, status=410)
        raise Http404("No such key pair.")
    request.session[SESSION_KEYS] = keys
    response = HttpResponse(entry["pem"], content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{pem_filename(entry["name"])}"'
    response["Cache-Control"] = "no-store"
    return response
