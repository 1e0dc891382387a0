"""Balancing (like vSphere DRS): the imbalance gauge against the threshold's target, each host's load,
the recommendations (priority, reason, imbalance before and after, cost), apply one or all; the policy
(mode and threshold level) that the beat task and the recommendations follow, and who set it."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from provisioning.choices import BalancingMode
from provisioning.exceptions import InvalidRequest
from provisioning.services.balancing import (
    balancing_apply,
    balancing_config,
    balancing_policy,
    balancing_policy_set,
    balancing_recommend,
)

from ...web.htmx import is_fragment
from ..access import act, confirmed, staff_required
from ..forms import BalancingPolicyForm, ThresholdForm


def _threshold(data) -> int | None:
    form = ThresholdForm(data)
    return int(form.cleaned_data["threshold"]) if form.is_valid() and form.cleaned_data["threshold"] else None


def gauge(value: float, target: float) -> dict[str, str]:
    """Bar and target-mark positions (percent of a scale a quarter above the larger of the two)."""
    top = max(value, target, 0.001) * 1.25
    return {"gauge_pct": f"{value / top * 100:.1f}", "target_pct": f"{target / top * 100:.1f}",
            "gauge_level": "full" if value > target else "ok"}


def _page(request: HttpRequest, *, policy_form: BalancingPolicyForm | None = None, status: int = 200) -> HttpResponse:
    plan = balancing_recommend(threshold=_threshold(request.GET))
    loads = sorted(plan.loads.items(), key=lambda kv: -kv[1])
    policy = plan.policy
    context = {"section": "console", "page": "balancing", "plan": plan, "loads": loads, "policy": policy,
               "form": ThresholdForm(initial={"threshold": plan.threshold}),
               "policy_form": policy_form or BalancingPolicyForm(initial={"mode": policy["mode"],
                                                                          "threshold": policy["threshold"]}),
               **gauge(plan.imbalance, plan.target_imbalance)}
    return render(request, "console/balancing.html", context, status=status)


@staff_required
def balancing(request: HttpRequest) -> HttpResponse:
    """The plan at the policy's threshold, or at the level chosen here (a preview: nothing moves)."""
    return _page(request)


@staff_required
@require_POST
def balancing_do_apply(request: HttpRequest) -> HttpResponse:
    """Apply one recommendation (`instance`) or all of them; the plan is computed afresh by the service."""
    instance = request.POST.get("instance") or None
    threshold = _threshold(request.POST)
    back = reverse("console-balancing") + (f"?threshold={threshold}" if threshold else "")
    if instance is None and not confirmed(request):
        plan = balancing_recommend(threshold=threshold)
        return render(request, "console/confirm.html", {
            "section": "console", "page": "balancing", "title": f"Apply all {len(plan.recommendations)} moves?",
            "consequence": f"Each guest live-migrates as listed; the imbalance is expected to go from "
                           f"{plan.imbalance:.3f} to {plan.imbalance_after:.3f}.",
            "details": [f"{r.instance} {r.source} → {r.destination}: {r.memory_to_copy_mib} MiB to copy"
                        for r in plan.recommendations],
            "hidden": {"threshold": threshold or ""}, "action_url": request.path, "button": "Yes, apply all",
            "next": back})
    return act(request, lambda: balancing_apply(actor=request.user.username, instance=instance, threshold=threshold),
               success=lambda run: run.message, back=back)


def _automatic_consequence(level: int) -> tuple[str, list[str]]:
    """What switching to automatic would do now: the moves the first run would start, in words."""
    cfg = balancing_config()
    plan = balancing_recommend(threshold=level)
    every = f"{cfg['interval_s'] / 60:g} min" if cfg["interval_s"] >= 60 else f"{cfg['interval_s']:g} s"
    text = (f"Every {every} the balancer will start the recommended live migrations by itself (at most "
            f"{cfg['max_moves']} per run, the next run once they finish), at threshold level {level}. ")
    text += (f"Right now that is {len(plan.recommendations)} move(s): the imbalance would go from "
             f"{plan.imbalance:.3f} to {plan.imbalance_after:.3f}." if plan.recommendations
             else "Right now nothing would move: " + plan.message)
    return text, [f"{r.instance} {r.source} → {r.destination}: {r.memory_to_copy_mib} MiB to copy"
                  for r in plan.recommendations]


@staff_required
@require_POST
def balancing_policy_edit(request: HttpRequest) -> HttpResponse:
    """Set the policy (one service call; it logs who changed what). Switching to automatic is confirmed
    first, showing what the balancer would move. htmx gets the policy card (errors, the confirmation) or,
    once saved, a redirect to the page, which then follows the new policy everywhere."""
    form = BalancingPolicyForm(request.POST)
    back = reverse("console-balancing")
    if form.is_valid():
        mode, level = form.cleaned_data["mode"], form.cleaned_data["threshold"]
        if (mode == BalancingMode.AUTOMATIC and balancing_policy().mode != BalancingMode.AUTOMATIC
                and not confirmed(request)):
            consequence, details = _automatic_consequence(level)
            context = {"section": "console", "page": "balancing", "title": "Switch the balancer to automatic?",
                       "consequence": consequence, "details": details, "action_url": request.path, "next": back,
                       "hidden": {"mode": mode, "threshold": level}, "button": "Yes, switch to automatic"}
            if is_fragment(request):
                return render(request, "console/_balancing_policy.html",
                              {**context, "confirm": True, "policy": balancing_policy().as_dict()})
            return render(request, "console/confirm.html", context)
        try:
            change = balancing_policy_set(actor=request.user.username, mode=mode, threshold=level)
        except InvalidRequest as exc:
            for field, errors in exc.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            (messages.success if change.changes else messages.info)(request, change.message)
            return HttpResponseClientRedirect(back) if is_fragment(request) else redirect(back)
    if is_fragment(request):
        return render(request, "console/_balancing_policy.html",
                      {"policy_form": form, "policy": balancing_policy().as_dict()})
    return _page(request, policy_form=form, status=400)
