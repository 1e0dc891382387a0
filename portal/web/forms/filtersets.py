"""Filter forms of the list pages (NetBox `dcim/forms/filtersets.py`): what the filter bar shows.

The django-filter filterset (`provisioning/filtersets.py`, shared with the REST API) decides what a
query means and which values it drops; these forms only render the bar through `web/_field.html`
and name a value the filterset dropped, so a hand-edited URL is never silently ignored.
"""
from __future__ import annotations

from django import forms
from django.http import QueryDict

from provisioning.choices import Architecture, InstanceState, OsFamily, VirtMode
from provisioning.selectors import appliance_list

from ..templatetags.skyport import category_label, mode_label


class ChoiceFilterField(forms.CharField):
    """A select with an "any" first option; `noun`/`nouns` name an unknown value in notices.

    A CharField shown as a select: the filterset judges the value, this field never refuses one.
    """

    def __init__(self, *, choices=(), any_label: str, noun: str = "", nouns: str = "", **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(widget=forms.Select, **kwargs)
        self.any_label, self.noun, self.nouns = any_label, noun, nouns
        self.choices = choices

    @property
    def choices(self) -> list[tuple[str, str]]:
        return self.widget.choices[1:]

    @choices.setter
    def choices(self, value) -> None:
        self.widget.choices = [("", self.any_label), *value]


def _quoted(values: list[str]) -> str:
    return ", ".join(f"'{v[:40]}{'…' if len(v) > 40 else ''}'" for v in values[:3]) or "value"


class FilterForm(forms.Form):
    """Base of the filter bars: GET-bound, ids `f-<name>`, an error box `err-<name>` per field.

    The error box exists on every page render, so an htmx fragment can clear or fill it out of
    band (`web/_filter_errors_oob.html`).
    """

    def __init__(self, data: QueryDict | None = None, **kwargs):
        kwargs.setdefault("auto_id", "f-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(data, **kwargs)
        for name, field in self.fields.items():
            field.required = False
            field.widget.attrs.setdefault("aria-describedby", f"err-{name}")

    def report_dropped(self, filterset_form: forms.Form) -> list[str]:
        """Put "unknown value" errors on the fields whose value the filterset dropped; return the notices."""
        self.is_valid()
        notices = []
        for name, field in self.fields.items():
            if not isinstance(field, ChoiceFilterField) or not field.noun or name not in filterset_form.errors:
                continue
            valid = {str(value) for value, _ in field.choices}
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else [self.data.get(name, "")]
            shown = _quoted([v for v in values if v and v not in valid])
            self.add_error(name, f"Unknown {field.noun} {shown}: pick one from the list.")
            notices.append(f"Unknown {field.noun} {shown} — showing all {field.nouns}.")
        return notices

    def summary(self, filters: dict) -> str:
        """The applied filters in words ('“lamp”, OS Linux'), for the result count; '' if none."""
        return ""


class MarketplaceFilterForm(FilterForm):
    q = forms.CharField(label="Search", widget=forms.SearchInput(
        attrs={"placeholder": "Name, OS, stack, vendor…", "autocomplete": "off"}))
    os_family = ChoiceFilterField(label="Operating system", choices=OsFamily.choices, any_label="Any OS",
                                  noun="operating system", nouns="operating systems")
    category = ChoiceFilterField(label="Stack / category", any_label="Any category")
    architecture = ChoiceFilterField(label="Architecture", choices=Architecture.choices,
                                     any_label="Any architecture", noun="architecture", nouns="architectures")
    virt_mode = ChoiceFilterField(label="Virtualization", choices=VirtMode.choices, any_label="Any mode",
                                  noun="virtualization mode", nouns="virtualization modes")

    def __init__(self, data: QueryDict | None = None, **kwargs):
        categories = sorted({c for c in appliance_list().values_list("category", flat=True) if c})
        if data is not None and data.get("category"):
            # The filterset matches a category case-insensitively; select the option the same way.
            wanted = {c.lower(): c for c in categories}.get(data["category"].lower())
            if wanted:
                data = data.copy()
                data["category"] = wanted
        super().__init__(data, **kwargs)
        self.fields["category"].choices = [(c, category_label(c)) for c in categories]

    def summary(self, filters: dict) -> str:
        parts = []
        if filters.get("q"):
            parts.append(f"“{filters['q']}”")
        if filters.get("os_family"):
            parts.append(f"OS {OsFamily(filters['os_family']).label}")
        if filters.get("category"):
            parts.append(f"category {category_label(filters['category'])}")
        if filters.get("architecture"):
            parts.append(Architecture(filters["architecture"]).label)
        if filters.get("virt_mode"):
            parts.append(mode_label(filters["virt_mode"]))
        return ", ".join(parts)


class InstanceFilterForm(FilterForm):
    q = forms.CharField(label="Search", widget=forms.SearchInput(
        attrs={"placeholder": "Instance id, name or IP", "autocomplete": "off"}))
    state = ChoiceFilterField(label="State", choices=InstanceState.choices, any_label="Any state",
                              noun="state", nouns="states")
