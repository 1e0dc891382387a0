from django.apps import AppConfig


class WebConfig(AppConfig):
    """The self-service pages; an app so that `{% load skyport %}` finds `templatetags/skyport.py`."""

    name = "portal.web"
    label = "web"
