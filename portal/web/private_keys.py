"""Private keys of newly created key pairs, kept in the session until their one download.

Skyport never stores a private key: the session holds it from creation to the download, which
forgets it. The PEM text is shown on the first full page rendered after creation only; later
pages keep the one-time download link until it is used.
"""
from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from provisioning.models import KeyPair
from provisioning.services.keypairs import pem_filename

SESSION_KEYS = "skyport_private_keys"  # key id -> {"name", "pem", "shown"}; deleted once downloaded


def remember(request: HttpRequest, key_pair: KeyPair, pem: str) -> None:
    keys = request.session.get(SESSION_KEYS) or {}
    keys[key_pair.public_id] = {"name": key_pair.name, "pem": pem, "shown": False}
    request.session[SESSION_KEYS] = keys


def take(request: HttpRequest, public_id: str) -> dict | None:
    """The waiting entry for `public_id`, removed from the session (None if there is none)."""
    keys = request.session.get(SESSION_KEYS) or {}
    entry = keys.pop(public_id, None)
    if entry is not None:
        request.session[SESSION_KEYS] = keys
    return entry


def for_display(request: HttpRequest) -> list[dict]:
    """The waiting keys as the page banner shows them; reading marks the PEM text as shown."""
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


def private_keys(request: HttpRequest) -> dict:
    """Context processor: `private_keys`, read only by templates that use it (the base page).

    Lazy, so a fragment or an admin page does not mark a PEM as shown without showing it.
    """
    return {"private_keys": SimpleLazyObject(lambda: for_display(request))}
