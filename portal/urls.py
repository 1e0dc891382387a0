"""Top-level URL map: web pages, Django admin (+ staff console pages), REST API and its docs, EC2 API,
Prometheus metrics."""
from django.contrib import admin
from django.urls import include, path, re_path

from . import console
from .metrics import metrics_view

urlpatterns = [
    path(
        "admin/placement/dry-run/",
        admin.site.admin_view(lambda request: console.placement_dry_run(request, admin.site)),
        name="placement-dry-run",
    ),
    path("admin/", admin.site.urls),
    path("api/", include("portal.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    re_path(r"^ec2/?", include("portal.ec2.urls")),  # EC2 Query API: boto3 endpoint_url=<portal>/ec2/
    path("", include("portal.web.urls")),
]
