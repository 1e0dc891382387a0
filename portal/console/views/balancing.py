"""Balancing (like vSphere DRS): the imbalance gauge against the threshold's target, each host's load,
the recommendations (priority, reason, imbalance before and after, cost), apply one or all."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from provisioning.services.balancing import balancing_apply, balancing_recommend

from ..access import act, confirmed, staff_required
from ..forms import ThresholdForm


def _threshold(data) -> int | None:
    form = ThresholdForm(data)
    return int(form.cleaned_data["threshold"]) if form.is_valid() and form.cleaned_data["threshold"] else None


def gauge(value: float, target: float) -> dict[str, str]:
    """Bar and target-mark positions (percent of a scale a quarter above the larger of the two)."""
    top = max(value, target, 0.001) * 1.25
    return {"gauge_pct": f"{value / top * 100:.1f}", "target_pct": f"{target / top * 100:.1f}",
            "gauge_level": "full" if value > target else "ok"}


@staff_required
def balancing(request: HttpRequest) -> HttpResponse:
    """The plan at the configured threshold, or at the level chosen here (a preview: nothing moves)."""
    plan = balancing_recommend(threshold=_threshold(request.GET))
    loads = sorted(plan.loads.items(), key=lambda kv: -kv[1])
    context = {"section": "console", "page": "balancing", "plan": plan, "loads": loads,
               "form": ThresholdForm(initial={"threshold": plan.threshold}),
               **gauge(plan.imbalance, plan.target_imbalance)}
    return render(request, "console/balancing.html", context)


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

