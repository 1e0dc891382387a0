"""What a tenant may see of the fleet: hypervisor host names are the operators' business.

OpenStack shows tenants no host name by default (`os-extended-server-attributes` is admin-only);
Skyport shows the availability zone instead, unless SKYPORT_SHOW_HOSTS_TO_TENANTS is on. The REST
serializers and the web templates ask ``hosts_visible(user)`` and pass text that may name a host
(event messages, the console log, a failure reason) through ``mask_host``.
"""
from __future__ import annotations

import re

from django.conf import settings


def hosts_visible(user) -> bool:
    """Staff always see host names; tenants only where the setting allows it."""
    return bool(getattr(user, "is_staff", False)) or settings.SKYPORT_SHOW_HOSTS_TO_TENANTS


def host_label(host, user) -> str | None:
    """The host's name for whoever may see it, else its zone (None without a host)."""
    if host is None:
        return None
    return host.name if hosts_visible(user) else host.availability_zone


def mask_host(text: str, host, user) -> str:
    """``text`` with the host's name replaced by its zone for a tenant who may not see host names."""
    if not text or host is None or hosts_visible(user):
        return text
    return re.sub(rf"(?<!\w){re.escape(host.name)}(?!\w)", host.availability_zone, text)
