"""Template context every page gets: the settings that change what the layout offers."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def portal_settings(request: HttpRequest) -> dict:
    return {"signup_open": settings.SKYPORT_SIGNUP != "off", "demo_mode": settings.SKYPORT_DEMO}
