"""Top-level URL map: web pages, the staff console, Django admin, REST API and its docs, EC2 API,
Prometheus metrics."""
from django.contrib import admin
from django.urls import include, path, re_path

from .console.views.placement import admin_dry_run_moved
from .metrics import metrics_view

urlpatterns = [
    path("admin/placement/dry-run/", admin_dry_run_moved),  # moved into the console
    path("admin/", admin.site.urls),
    path("console/", include("portal.console.urls")),
    path("api/", include("portal.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    re_path(r"^ec2/?", include("portal.ec2.urls")),  # EC2 Query API: boto3 endpoint_url=<portal>/ec2/
    path("", include("portal.web.urls")),
]

# The portal's own error pages, never Django's (portal.errors).
handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
