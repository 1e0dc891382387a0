"""Console display helpers: allocation bars and sortable column headers.

`{% load console %}` then `{% alloc_bar used limit "vCPU" %}`, `{{ ratio|pct }}`, `{% sort_th "memory" "Memory" %}`.
"""
from __future__ import annotations

from typing import Any

from django import template
from django.http import QueryDict

from provisioning.choices import MIGRATION_STATUS_COLOURS, MaintenanceStatus
from provisioning.units import mib_label

register = template.Library()

# Bar colour by share: the eye finds the nearly full hosts first.
WARN_AT, FULL_AT = 0.75, 0.9


@register.filter
def pct(ratio: float | None, digits: int = 0) -> str:
    """0.4567 -> '46%' ('—' when there is no limit to compare with)."""
    if ratio is None:
        return "—"
    return f"{ratio * 100:.{digits}f}%"


def _level(ratio: float) -> str:
    return "full" if ratio >= FULL_AT else "warn" if ratio >= WARN_AT else "ok"


@register.inclusion_tag("console/_bar.html")
def alloc_bar(used: float, limit: float, label: str, unit: str = "") -> dict[str, Any]:
    """One resource's allocated share as a labelled bar: 'vCPU 12 / 64 · 19%'."""
    ratio = (used / limit) if limit else 0.0
    if unit == "MiB":
        figures = f"{mib_label(used)} / {mib_label(limit)}"
    elif unit == "ms":
        figures = f"{used:.0f} / {limit:.0f} ms"
    else:
        figures = f"{used:g} / {limit:g}{(' ' + unit) if unit else ''}"
    return {"label": label, "figures": figures, "ratio": ratio, "width": f"{min(ratio, 1.0) * 100:.1f}",
            "level": _level(ratio), "pct": pct(ratio)}


@register.inclusion_tag("console/_bar.html")
def load_bar(ratio: float, label: str = "") -> dict[str, Any]:
    """A 0..1 load (balancing) as a bar."""
    ratio = ratio or 0.0
    return {"label": label, "figures": "", "ratio": ratio, "width": f"{min(ratio, 1.0) * 100:.1f}",
            "level": _level(ratio), "pct": pct(ratio)}


@register.inclusion_tag("console/_sort_th.html", takes_context=True)
def sort_th(context, key: str, label: str, numeric: bool = False) -> dict[str, Any]:
    """A column header that sorts by `key` (descending first for numbers), and says how it sorts now."""
    request = context["request"]
    current = request.GET.get("sort", "")
    active = current.lstrip("-") == key
    descending = current.startswith("-")
    if active:
        target = key if descending else f"-{key}"
    else:
        target = f"-{key}" if numeric else key
    params = QueryDict(mutable=True)
    params.update({k: v for k, v in request.GET.items() if k not in ("sort", "page")})
    params["sort"] = target
    aria = ("descending" if descending else "ascending") if active else "none"
    return {"label": label, "href": f"?{params.urlencode()}", "aria_sort": aria, "active": active,
            "arrow": ("▼" if descending else "▲") if active else ""}


@register.filter
def seconds(value: float | None) -> str:
    """Simulated seconds in words: 8.4 -> '8.4 s', 312 -> '5 min 12 s'."""
    if value is None:
        return "—"
    value = float(value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@register.filter
def ms(value: float | None) -> str:
    return "—" if value is None else f"{float(value):.0f} ms"


@register.filter
def mode_short(mode: str) -> str:
    """'hardware_assisted' -> 'Hardware-assisted' (the launch form's short names, for narrow columns)."""
    from ...web.forms.launch import MODE_LABELS

    return MODE_LABELS.get(mode, (mode or "").replace("_", " "))


@register.filter
def words(name: str) -> str:
    """'free_memory' -> 'free memory'."""
    return (name or "").replace("_", " ")



@register.inclusion_tag("web/_badge.html")
def migration_badge(migration) -> dict[str, Any]:
    """A migration's status badge, coloured from `MIGRATION_STATUS_COLOURS` (pulses while it moves)."""
    return {"state": migration.get_status_display(), "colour": MIGRATION_STATUS_COLOURS.get(migration.status, "grey"),
            "busy": not migration.is_final}


@register.inclusion_tag("web/_badge.html")
def maintenance_badge(maintenance) -> dict[str, Any]:
    """A maintenance's status badge, coloured from `MaintenanceStatus` (pulses while entering)."""
    return {"state": maintenance.get_status_display(), "colour": MaintenanceStatus.colour(maintenance.status),
            "busy": maintenance.status == "entering"}
