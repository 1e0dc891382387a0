"""Names of owned resources (key pairs, security groups): one rule, EC2's printable subset.

No control characters (a NUL, a newline or an escape sequence in a name reaches logs, terminals
and generated files), at most 255 characters.
"""
from __future__ import annotations

import re

NAME_RE = re.compile(r"^[A-Za-z0-9 ._\-@+=,:/]{1,255}$")
NAME_RULE = "Use up to 255 letters, digits, spaces and ._-@+=,:/ characters."
