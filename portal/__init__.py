"""Skyport portal: Django project, web views, REST API and (later) the EC2 Query API."""
from .celery import app as celery_app

__all__ = ("celery_app",)
