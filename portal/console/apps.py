from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff console; an app so that `{% load console %}` finds `templatetags/console.py`."""

    name = "portal.console"
    label = "console"
