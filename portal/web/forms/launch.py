"""The launch form: parses and shapes input for `provisioning`, which owns the rules."""
from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings

from provisioning.choices import MODE_PREFERENCE, Protocol, VirtMode
from provisioning.exceptions import InvalidRequest
from provisioning.models import Appliance, Host, InstanceType
from provisioning.selectors import instance_type_list, keypair_list, security_group_list
from provisioning.services.keypairs import NewKeyPair
from provisioning.services.launch import MAX_COUNT, instance_type_shortfall
from provisioning.services.security_groups import MAX_RULES, RuleSpec, rule_parse
from provisioning.units import mib_label

from .keypairs import KEY_TYPE_CHOICES, PUBLIC_KEY_WIDGET_ATTRS


class OptionReasonSelect(forms.Select):
    """A select whose options can be disabled, each with the reason appended to its label."""

    def __init__(self, *args, disabled: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.disabled = disabled or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        reason = self.disabled.get(str(value))
        if reason:
            option["attrs"]["disabled"] = True
            option["label"] = f"{label} — {reason}"
        return option


def type_shortfall(itype: InstanceType, appliance: Appliance) -> str:
    """Why `itype` is too small for `appliance` ('' if it is big enough)."""
    short = instance_type_shortfall(itype, appliance)
    return f"below the minimum: needs {', '.join(short)}" if short else ""


def type_label(itype: InstanceType) -> str:
    memory = mib_label(itype.memory_mib, gib_only=True)
    nic = " · SR-IOV NIC (no live migration)" if itype.nic == "sriov" else ""
    return f"{itype.name} · {itype.vcpus} vCPU · {memory} · {itype.disk_gib} GiB disk{nic}"


@dataclass
class RuleRow:
    """One 'new rule' row as the user typed it (re-rendered on errors)."""

    protocol: str = "tcp"
    ports: str = ""
    cidr: str = "0.0.0.0/0"
    error: str = ""


# The rule rows' protocol select (the launch page and the "+ Add rule" fragment).
PROTOCOL_CHOICES = [(p.value, p.label[0].upper() + p.label[1:]) for p in Protocol]
KEY_MODES = [
    ("existing", "Use an existing key pair"),
    ("create", "Create a new key pair"),
    ("import", "Import a public key"),
    ("none", "No key pair (log in with a generated password)"),
]
# Short names for the select; VirtMode's labels ("full virtualization (binary translation)") describe.
MODE_LABELS = {
    VirtMode.HARDWARE_ASSISTED: "Hardware-assisted", VirtMode.PARAVIRTUALIZATION: "Paravirtualization",
    VirtMode.BINARY_TRANSLATION: "Binary translation", VirtMode.EMULATION: "Emulation",
    VirtMode.CONTAINER: "Container",
}


def zone_choices() -> list[tuple[str, str]]:
    zones = Host.objects.order_by("availability_zone").values_list("availability_zone", flat=True).distinct()
    return [("", "Any zone (the scheduler picks)")] + [(z, z) for z in zones]


def mode_choices(appliance: Appliance) -> list[tuple[str, str]]:
    """The appliance's modes, fastest first."""
    modes = [m for m in MODE_PREFERENCE if m in (appliance.supported_modes or [])]
    return [("", "Fastest available")] + [(m, MODE_LABELS.get(m, m)) for m in modes]


def default_rule_rows(appliance: Appliance) -> list[RuleRow]:
    if appliance.os_family == "windows":
        return [RuleRow("tcp", "3389", "0.0.0.0/0")]
    return [RuleRow("tcp", "22", "0.0.0.0/0")]


class LaunchForm(forms.Form):
    """The request form. Cross-field rules are checked by `launch_validate`; this only parses."""

    instance_type = forms.ChoiceField(label="Instance type")
    name = forms.CharField(
        label="Name", required=False, max_length=128,
        help_text="Optional. Letters, digits, spaces, dots, dashes, underscores. Several instances get -1, -2, …",
    )
    count = forms.IntegerField(
        label="Number of instances", min_value=1, max_value=MAX_COUNT, initial=1,
        help_text=f"1 to {MAX_COUNT}; all are launched or none.",
    )
    # Plain text shown as a select: the service judges the value (and says why it is refused).
    availability_zone = forms.CharField(label="Availability zone", required=False, max_length=32,
                                        widget=forms.Select)
    virt_mode = forms.CharField(label="Virtualization mode", required=False, max_length=32, widget=forms.Select)
    key_mode = forms.ChoiceField(label="Key pair", choices=KEY_MODES, widget=forms.RadioSelect, initial="create")
    key_name = forms.ChoiceField(label="Key pair", required=False)
    new_key_name = forms.CharField(label="New key pair name", required=False, max_length=255)
    new_key_type = forms.ChoiceField(label="Key type", choices=KEY_TYPE_CHOICES, initial="ed25519", required=False)
    import_key_name = forms.CharField(label="Key pair name", required=False, max_length=255)
    public_key = forms.CharField(
        label="Public key", required=False, strip=True,
        widget=forms.Textarea(attrs=PUBLIC_KEY_WIDGET_ATTRS),
    )
    security_groups = forms.MultipleChoiceField(
        label="Existing security groups", required=False, widget=forms.CheckboxSelectMultiple
    )
    user_data = forms.CharField(
        label="User data", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "placeholder": "#cloud-config"}),
    )

    def clean_user_data(self) -> str:
        """Browsers send a textarea with CRLF line endings; guests want LF."""
        return (self.cleaned_data.get("user_data") or "").replace("\r\n", "\n").replace("\r", "\n")

    def __init__(self, *args, user, appliance: Appliance, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.user = user
        self.appliance = appliance
        types = list(instance_type_list())
        self.types = {t.name: t for t in types}
        disabled = {t.name: type_shortfall(t, appliance) for t in types}
        disabled = {k: v for k, v in disabled.items() if v}
        field = self.fields["instance_type"]
        field.choices = [(t.name, type_label(t)) for t in types]
        field.widget = OptionReasonSelect(choices=field.choices, disabled=disabled)
        self.smallest_fit = next((t for t in types if t.name not in disabled), None)
        if self.smallest_fit and not self.is_bound:
            field.initial = self.smallest_fit.name
        self.fields["availability_zone"].widget.choices = zone_choices()
        self.fields["virt_mode"].widget.choices = mode_choices(appliance)
        keys = list(keypair_list(user=user))
        self.fields["key_name"].choices = [("", "Choose a key pair")] + [
            (k.name, f"{k.name} ({k.key_type}, {k.fingerprint[:22]}…)") for k in keys]
        if keys:
            if not self.is_bound:
                self.fields["key_mode"].initial = "existing"
                self.fields["key_name"].initial = keys[0].name
        else:
            self.fields["key_mode"].choices = [c for c in KEY_MODES if c[0] != "existing"]
        groups = list(security_group_list(user=user))
        self.groups = groups
        self.fields["security_groups"].choices = [
            (g.name, f"{g.name} ({', '.join(str(r) for r in g.rules.all()) or 'no rules'})") for g in groups
        ]
        limit = settings.SKYPORT_USER_DATA_MAX_BYTES
        self.user_data_limit = limit
        self.fields["user_data"].help_text = (
            f"Optional script or cloud-config run at first boot; at most {limit // 1024} KiB ({limit} bytes)."
        )
        self.rule_rows: list[RuleRow] = self._rule_rows_from_data() if self.is_bound else default_rule_rows(appliance)
        self.rule_errors: list[str] = []  # about the rules as a whole; row errors live on RuleRow
        self.rule_specs: list[RuleSpec] | None = None

    # ----------------------------------------------------------------- rules (rows of plain inputs)
    def _rule_rows_from_data(self) -> list[RuleRow]:
        data = self.data
        protos = data.getlist("rule_protocol") if hasattr(data, "getlist") else []
        ports = data.getlist("rule_ports") if hasattr(data, "getlist") else []
        cidrs = data.getlist("rule_cidr") if hasattr(data, "getlist") else []
        rows = []
        for i in range(max(len(protos), len(ports), len(cidrs))):
            rows.append(RuleRow(
                protos[i] if i < len(protos) else "tcp",
                (ports[i] if i < len(ports) else "").strip(),
                (cidrs[i] if i < len(cidrs) else "").strip(),
            ))
        return rows

    def _parse_rules(self) -> list[RuleSpec] | None:
        if len(self.rule_rows) > MAX_RULES:
            self.rule_errors.append(f"At most {MAX_RULES} rules per security group; remove "
                                    f"{len(self.rule_rows) - MAX_RULES} rows.")
            return None
        specs: list[RuleSpec] = []
        for index, row in enumerate(self.rule_rows):
            takes_ports = row.protocol in ("tcp", "udp")
            if takes_ports and not row.ports and row.cidr in ("", "0.0.0.0/0"):
                continue  # a row left as added (no port yet): ignored
            if not takes_ports and not row.cidr:
                continue
            raw = {"protocol": row.protocol, "cidr": row.cidr or "0.0.0.0/0"}
            if takes_ports:
                if not row.ports:
                    row.error = "Give a port (22) or a range (8000-8080)."
                    continue
                low, _, high = row.ports.partition("-")
                raw["from_port"], raw["to_port"] = low.strip(), (high or low).strip()
            try:
                specs.append(rule_parse(raw, field="rules", index=index))
            except InvalidRequest as exc:
                row.error = exc.errors["rules"][0].split(": ", 1)[-1]
        return specs or None

    # ----------------------------------------------------------------- validation
    def clean(self) -> dict:
        data = super().clean()
        mode = data.get("key_mode")
        if mode == "existing" and not data.get("key_name"):
            self.add_error("key_name", "Choose one of your key pairs, or pick another option.")
        if mode == "create" and not data.get("new_key_name"):
            self.add_error("new_key_name", "Give the new key pair a name.")
        if mode == "import":
            if not data.get("import_key_name"):
                self.add_error("import_key_name", "Give the imported key pair a name.")
            if not data.get("public_key"):
                self.add_error("public_key", "Paste an OpenSSH public key (ssh-ed25519 AAAA… or ssh-rsa AAAA…).")
        self.rule_specs = self._parse_rules()
        return data

    @property
    def has_rule_errors(self) -> bool:
        """Errors on rule rows (shown on the row) or about the rules as a whole (shown below them)."""
        return bool(self.rule_errors) or any(row.error for row in self.rule_rows)

    def is_valid(self) -> bool:
        return self.fields_valid() and not self.has_rule_errors

    def fields_valid(self) -> bool:
        """The fields parse; the rules and the services may still refuse."""
        return super().is_valid()

    def error_summary(self) -> list[tuple[str, str, str]]:
        """(anchor, label, message) for every field error, for the summary at the top of the form."""
        out = []
        for name, errors in self.errors.items():
            if name == "__all__" or name not in self.fields:
                continue
            anchor = "key-options" if name == "key_mode" else f"id_{name}"
            out.extend((anchor, self.fields[name].label, e) for e in errors)
        for index, row in enumerate(self.rule_rows, start=1):
            if row.error:
                out.append(("rule-rows", f"Rule {index}", row.error))
        out.extend(("rule-rows", "Access rules", e) for e in self.rule_errors)
        return out

    def requested_type(self) -> InstanceType | None:
        field = "instance_type"
        name = self.data.get(field) if self.is_bound else self.get_initial_for_field(self.fields[field], field)
        return self.types.get(name or "")

    # Where a service's error field lands on this form.
    SERVICE_FIELDS = {
        "instance_type": "instance_type", "name": "name", "user_data": "user_data", "key_name": "key_name",
        "security_groups": "security_groups", "min_count": "count", "max_count": "count",
        "availability_zone": "availability_zone", "virt_mode": "virt_mode",
        "new_key_name": "new_key_name", "new_key_type": "new_key_type", "public_key": "public_key",
    }

    def service_field(self, fieldname: str) -> str | None:
        """The form field a service error about `fieldname` belongs to (None: the top of the form)."""
        if fieldname == "new_key_name" and getattr(self, "cleaned_data", {}).get("key_mode") == "import":
            return "import_key_name"
        return self.SERVICE_FIELDS.get(fieldname)

    def launch_fields(self) -> dict:
        """`instance_launch`'s keyword arguments from what parsed (unparsed fields left at their default)."""
        d = self.cleaned_data
        return {
            "appliance": self.appliance, "instance_type": d.get("instance_type", ""), "name": d.get("name", ""),
            "key_name": d.get("key_name", "") if d.get("key_mode") == "existing" else "",
            "security_groups": d.get("security_groups") or [], "new_rules": self.rule_specs,
            "user_data": d.get("user_data", ""), "min_count": d.get("count") or 1, "max_count": d.get("count") or 1,
            "availability_zone": d.get("availability_zone", ""), "virt_mode": d.get("virt_mode", ""),
        }

    def new_key_pair(self) -> NewKeyPair | None:
        """The key pair to generate or import with the launch, if the user asked for one."""
        d = self.cleaned_data
        if d.get("key_mode") == "create":
            return NewKeyPair(name=d.get("new_key_name", ""), key_type=d.get("new_key_type") or "ed25519")
        if d.get("key_mode") == "import":
            return NewKeyPair(name=d.get("import_key_name", ""), public_key=d.get("public_key", ""))
        return None

    def capacity_advice(self) -> str:
        """What to change on this form when no host can take the request (a pinned zone or mode only)."""
        data = getattr(self, "cleaned_data", {})
        options = ["a smaller instance type", "fewer instances"]
        if data.get("availability_zone"):
            options.append("another availability zone")
        if data.get("virt_mode"):
            options.append("another virtualization mode")
        return f"Try {', '.join(options[:-1])} or {options[-1]}."

    def capacity_reasons(self) -> list[tuple[str, list[str]]]:
        """(filter, reasons) of a capacity refusal, e.g. ('Host state', ['20 are in maintenance'])."""
        error = getattr(self, "capacity_error", None)
        filters = error.explanation.get("filters") if error else None
        return [(name.replace("_", " ").capitalize(), lines) for name, lines in (filters or {}).items()]

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put an InvalidRequest's field errors on the matching form fields (others at the top)."""
        for fieldname, messages in errors.items():
            if fieldname == "rules":
                self.rule_errors.extend(messages)
                continue
            target = self.service_field(fieldname)
            for message in messages:
                if target and target in self.fields:
                    self.add_error(target, message)
                else:
                    self.add_error(None, message)
