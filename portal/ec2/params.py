"""EC2 Query parameters (`InstanceId.1`, `Filter.2.Value.1`, `TagSpecification.1.Tag.1.Key`) parsed once
into a tree, with typed readers that answer EC2's MissingParameter / InvalidParameterValue."""
from __future__ import annotations

import re
from typing import Any

from .errors import Ec2Error, invalid, missing

MAX_INDEX = 1000  # `InstanceId.99999999` would otherwise build a huge list


def _tree(flat: dict[str, str]) -> dict[str, Any]:
    root: dict = {}
    for key, value in flat.items():
        node = root
        parts = key.split(".")
        for i, part in enumerate(parts):
            index: Any = part
            if part.isdigit():
                index = int(part)
                if not 1 <= index <= MAX_INDEX:
                    raise invalid(f"Parameter {key}: list positions run from 1 to {MAX_INDEX}.")
            if i == len(parts) - 1:
                if isinstance(node.get(index), dict):
                    raise invalid(f"Parameter {key} is given both as a value and as a structure.")
                node[index] = value
            else:
                child = node.setdefault(index, {})
                if not isinstance(child, dict):
                    raise invalid(f"Parameter {key} is given both as a value and as a structure.")
                node = child
    return _lists(root)


def _lists(node: Any) -> Any:
    """Dicts keyed by positions (1, 2, ...) become lists in position order."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_lists(node[k]) for k in sorted(node)]
    return {k: _lists(v) for k, v in node.items()}


class Params:
    """The request's parameters: `flat` as sent, `tree` nested."""

    def __init__(self, flat: dict[str, str]):
        self.flat = flat
        self.tree = _tree(flat)

    # ------------------------------------------------------------------ scalars
    def str(self, name: str, *, required: bool = False, default: str = "") -> str:
        value = self.tree.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return default
        if not isinstance(value, str):
            raise invalid(f"Parameter {name} takes one value, not a list.")
        if "\x00" in value:
            raise invalid(f"Parameter {name} contains a NUL character.")
        return value

    def int(self, name: str, *, required: bool = False, default: int | None = None, low: int | None = None,
            high: int | None = None) -> int | None:
        raw = self.str(name, required=required)
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise invalid(f"Invalid value '{raw}' for {name}: give a whole number.") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise invalid(f"Invalid value '{value}' for {name}: it must be {bounds}.")
        return value

    def bool(self, name: str, *, default: bool = False) -> bool:
        raw = self.str(name).lower()
        if raw == "":
            return default
        if raw not in ("true", "false"):
            raise invalid(f"Invalid value '{raw}' for {name}: use true or false.")
        return raw == "true"

    # ------------------------------------------------------------------ lists and structures
    def list(self, name: str) -> list[str]:
        """`Name.1`, `Name.2`, ... as a list of strings."""
        value = self.tree.get(name, [])
        if isinstance(value, str):
            raise invalid(f"Parameter {name} is a list: send {name}.1, {name}.2, ...")
        if not all(isinstance(v, str) for v in value):
            raise invalid(f"Parameter {name}.N takes plain values.")
        return value

    def structs(self, name: str) -> list[dict]:
        value = self.tree.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise invalid(f"Parameter {name} is a list of structures: send {name}.1.<Member>, ...")
        return value

    def filters(self, known: set[str] | None = None, *, prefixes: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
        """Filter.N.Name / Filter.N.Value.M; a filter name we do not know is refused, naming the ones we do."""
        out = []
        for item in self.structs("Filter"):
            name = item.get("Name")
            values = item.get("Value", [])
            if not isinstance(name, str) or not name:
                raise missing("Filter.N.Name")
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise invalid(f"Filter {name}: send its values as Filter.N.Value.1, Filter.N.Value.2, ...")
            if known is not None and name not in known and not name.startswith(prefixes):
                names = ", ".join(sorted(known) + [p + "<key>" for p in prefixes])
                raise invalid(f"The filter '{name}' is invalid; this action supports: {names}.")
            out.append((name, values))
        return out

    def tags(self, name: str = "Tag", *, values_required: bool = True) -> dict[str, str | None]:
        """`Tag.N.Key` / `Tag.N.Value` as {key: value}."""
        out: dict[str, str | None] = {}
        for item in self.structs(name):
            key = item.get("Key")
            if not isinstance(key, str) or key == "":
                raise missing(f"{name}.N.Key")
            value = item.get("Value")
            if value is not None and not isinstance(value, str):
                raise invalid(f"{name}.N.Value takes one value.")
            out[key] = value if value is not None or not values_required else ""
        return out


ID_PATTERNS = {
    "i": re.compile(r"^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$"),
    "ami": re.compile(r"^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$"),
    "sg": re.compile(r"^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$"),
    "key": re.compile(r"^key-[0-9a-f]{8}(?:[0-9a-f]{9})?$"),
    "r": re.compile(r"^r-[0-9a-f]{8}(?:[0-9a-f]{9})?$"),
}
MALFORMED = {
    "i": "InvalidInstanceID.Malformed",
    "ami": "InvalidAMIID.Malformed",
    "sg": "InvalidGroupId.Malformed",
    "key": "InvalidKeyPair.Malformed",
    "r": "InvalidReservationID.Malformed",
}


def check_ids(kind: str, ids: list[str]) -> list[str]:
    """Refuse malformed ids (EC2's `.Malformed` codes); the ids in order, without repeats."""
    pattern = ID_PATTERNS[kind]
    for value in ids:
        if not pattern.match(value):
            raise Ec2Error(MALFORMED[kind], f"Invalid id: \"{value}\" (expecting \"{kind}-\" followed by 8 or 17 "
                                            "lowercase hexadecimal digits)")
    return list(dict.fromkeys(ids))
