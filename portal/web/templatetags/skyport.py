"""Skyport's template tags and filters: display strings live here, not on the model objects.

`{% load skyport %}` then `{{ app.min_memory_mib|mib }}`, `{{ inst.virt_mode|mode_label }}`,
`{% state_badge inst %}`. The staff console loads the same module.
"""
from __future__ import annotations

from typing import Any

from django import template

from portal import visibility
from provisioning.choices import Architecture, VirtMode
from provisioning.lifecycle import actions_allowed
from provisioning.units import mib_label

register = template.Library()


@register.simple_tag(takes_context=True)
def host_label(context, host) -> str:
    """The host's name for staff (or everyone, with SKYPORT_SHOW_HOSTS_TO_TENANTS), else its zone."""
    return visibility.host_label(host, context["request"].user) or "—"


@register.simple_tag(takes_context=True)
def tenant_text(context, text: str, host) -> str:
    """`text` (an event, the console) with the host's name replaced by its zone for a tenant."""
    return visibility.mask_host(text or "", host, context["request"].user)

CATEGORY_LABELS = {"os": "Base OS", "cms": "CMS", "devops": "DevOps", "web": "Web stack"}


@register.filter
def mib(value: Any, unit: str = "") -> str:
    """512 -> '512 MiB', 1536 -> '1.5 GiB'; `|mib:"GiB"` gives '0.5 GiB' for 512.

    `provisioning.units.mib_label` is the one formatter; this only makes it a filter.
    """
    if value in (None, ""):
        return ""
    return mib_label(value, gib_only=unit.lower() == "gib")


@register.filter
def mode_label(mode: str) -> str:
    """'hardware_assisted' -> 'hardware-assisted (VT-x/AMD-V)'; an unknown value is shown readably."""
    if not mode:
        return ""
    try:
        return VirtMode(mode).label
    except ValueError:
        return mode.replace("_", " ")


@register.filter
def category_label(category: str) -> str:
    """'devops' -> 'DevOps'; categories are free text, so unknown ones are capitalised."""
    return CATEGORY_LABELS.get((category or "").lower(), (category or "").capitalize())


@register.filter
def arch_bits(architecture: str) -> str:
    """'x86_64' -> '64-bit', 'i386' -> '32-bit' (the short form for cards)."""
    return "64-bit" if architecture == Architecture.X86_64 else "32-bit"


@register.filter
def allowed_actions(instance) -> list[str]:
    """The lifecycle actions the instance accepts now, in the order the buttons show them."""
    return actions_allowed(instance)


@register.inclusion_tag("web/_badge.html")
def state_badge(obj) -> dict[str, Any]:
    """A state badge for any model with `state`, `state_colour` (read from its choice set) and
    optionally `is_busy` (the badge pulses while something is under way)."""
    return {"state": obj.get_state_display(), "colour": obj.state_colour, "busy": getattr(obj, "is_busy", False)}
