"""Private keys of newly created key pairs, waiting for their one download.

A private key never reaches the database, sessions included. It waits sealed
(`provisioning.crypto.seal`) in the cache (Redis, shared by every web process) under a random
handle, for SKYPORT_PRIVATE_KEY_TTL_S at most: the download erases it, and the cache's own expiry
erases it if nobody downloads it. The session keeps only the handle, the key pair's name and
whether the PEM text was shown (on the first full page after creation; later pages keep the
one-time download link). When the cache cannot take it, `remember` says so and the view shows the
key in the response that created it (`show_now`), with nothing left waiting.
"""
from __future__ import annotations

import base64
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from provisioning.crypto import seal, unseal
from provisioning.models import KeyPair
from provisioning.services.keypairs import pem_filename

log = logging.getLogger("skyport.web")

SESSION_KEYS = "skyport_private_keys"  # key id -> {"name", "handle", "shown"}: no key material
CACHE_PREFIX = "private-key:"


def remember(request: HttpRequest, key_pair: KeyPair, pem: str) -> bool:
    """Keep `pem` for its one download; False (logged) if the cache is unreachable."""
    handle = secrets.token_urlsafe(24)
    try:
        cache.set(CACHE_PREFIX + handle, seal(pem), timeout=settings.SKYPORT_PRIVATE_KEY_TTL_S)
    except Exception as exc:  # noqa: BLE001 - Redis down: the caller shows the key at once instead
        log.warning("could not keep the private key of %s for its download (%s)", key_pair.public_id, exc)
        return False
    keys = request.session.get(SESSION_KEYS) or {}
    keys[key_pair.public_id] = {"name": key_pair.name, "handle": handle, "shown": False}
    request.session[SESSION_KEYS] = keys
    return True


def _pem(entry: dict) -> str | None:
    try:
        token = cache.get(CACHE_PREFIX + entry.get("handle", ""))
    except Exception:  # noqa: BLE001 - unreachable cache: as good as gone for now
        return None
    return unseal(token, max_age_s=int(settings.SKYPORT_PRIVATE_KEY_TTL_S)) if token else None


def _forget(entry: dict) -> None:
    try:
        cache.delete(CACHE_PREFIX + entry.get("handle", ""))
    except Exception:  # noqa: BLE001, S110 - it expires by itself
        pass


def take(request: HttpRequest, public_id: str) -> dict | None:
    """{"name", "pem"} for `public_id`, erased on the way out (None if there is none, or it expired)."""
    keys = request.session.get(SESSION_KEYS) or {}
    entry = keys.pop(public_id, None)
    if entry is None:
        return None
    request.session[SESSION_KEYS] = keys
    pem = _pem(entry)
    _forget(entry)
    return {"name": entry["name"], "pem": pem} if pem else None


def for_display(request: HttpRequest) -> list[dict]:
    """The waiting keys as the page banner shows them; reading marks the PEM text as shown, and
    drops the entries whose key has expired."""
    keys = request.session.get(SESSION_KEYS) if request.user.is_authenticated else None
    if not keys:
        return []
    out = []
    for key_id, entry in list(keys.items()):
        pem = _pem(entry)
        if pem is None:
            del keys[key_id]
            continue
        out.append({"id": key_id, "name": entry["name"], "filename": pem_filename(entry["name"]),
                    "pem": "" if entry.get("shown") else pem})
        entry["shown"] = True
    request.session.modified = True
    return out


def private_keys(request: HttpRequest) -> dict:
    """Context processor: `private_keys`, read only by templates that use it (the base page).

    Lazy, so a fragment or an admin page does not mark a PEM as shown without showing it.
    """
    return {"private_keys": SimpleLazyObject(lambda: for_display(request))}


def show_now(request: HttpRequest, key_pair: KeyPair, pem: str, *, next_url: str, next_label: str) -> HttpResponse:
    """The key in this response, downloadable from the page itself (a data: link): nothing waits."""
    filename = pem_filename(key_pair.name)
    data_url = "data:application/x-pem-file;base64," + base64.b64encode(pem.encode()).decode("ascii")
    response = render(request, "web/key_now.html", {
        "key": {"id": key_pair.public_id, "name": key_pair.name, "filename": filename, "pem": pem},
        "data_url": data_url, "next_url": next_url, "next_label": next_label})
    response["Cache-Control"] = "no-store"
    return response
