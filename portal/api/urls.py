"""REST API under /api/v1/, its OpenAPI 3 schema (/api/schema/) and Swagger UI (/api/docs/).

URL names carry an `api-` prefix so they never collide with the web pages' (`instance-detail`).
Swagger UI's assets come from drf-spectacular-sidecar through the portal's own static files. (No
ReDoc: its stock template loads web fonts from a CDN, and the portal must work offline.)
"""
from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from . import views


class Router(DefaultRouter):
    include_format_suffixes = False  # lookups such as "t3.micro" or "laptop.pem" are names, not formats


router = Router()
router.register("appliances", views.ApplianceViewSet, basename="api-appliance")
router.register("instance-types", views.InstanceTypeViewSet, basename="api-instance-type")
router.register("instances", views.InstanceViewSet, basename="api-instance")
router.register("reservations", views.ReservationViewSet, basename="api-reservation")
router.register("keypairs", views.KeyPairViewSet, basename="api-keypair")
router.register("security-groups", views.SecurityGroupViewSet, basename="api-security-group")
router.register("access-keys", views.AccessKeyViewSet, basename="api-access-key")

urlpatterns = [
    path("v1/auth/token/", views.TokenView.as_view(), name="api-token"),
    path("v1/auth/tokens/", views.TokenListView.as_view(), name="api-tokens"),
    path("v1/auth/tokens/<str:id>/", views.TokenDetailView.as_view(), name="api-token-detail"),
    path("v1/quota/", views.QuotaView.as_view(), name="api-quota"),
    path("v1/users/<str:username>/quota/", views.UserQuotaView.as_view(), name="api-user-quota"),
    path("v1/placement/dry-run/", views.PlacementDryRunView.as_view(), name="api-placement-dry-run"),
    path("v1/staff/", include("portal.api.staff.urls")),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (?script): the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Anything else under /api/ is a JSON 404 too (not Django's HTML page, which in debug mode also
    # lists every URL pattern).
    re_path(r"^.*$", lambda request: api_not_found(request), name="api-not-found"),
]


def api_not_found(request: HttpRequest) -> JsonResponse:
    if not request.path.endswith("/"):
        try:
            with_slash = resolve(request.path + "/").url_name != "api-not-found"
        except Resolver404:
            with_slash = False
        if with_slash:
            return JsonResponse({"code": "not_found", "detail": (
                f"No API endpoint at {request.path}: API paths end with a slash, {request.path}/")}, status=404)
    return JsonResponse({"code": "not_found", "detail": (
        f"No API endpoint at {request.path}. The endpoints are listed at /api/docs/. A key pair or "
        "security group whose name contains '/' is addressed by its id (key-..., sg-...).")}, status=404)
