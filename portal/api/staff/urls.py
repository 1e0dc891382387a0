"""Routes of the staff API, mounted at /api/v1/staff/."""
from django.urls import path
from rest_framework.routers import DefaultRouter

from .balancing import BalancingApplyView, BalancingPolicyView, BalancingView
from .hosts import HostViewSet
from .instances import StaffInstanceViewSet
from .migrations import MigrationViewSet


class Router(DefaultRouter):
    include_format_suffixes = False  # host names and ids are lookups, not formats
    include_root_view = False


router = Router()
router.register("hosts", HostViewSet, basename="api-staff-host")
router.register("instances", StaffInstanceViewSet, basename="api-staff-instance")
router.register("migrations", MigrationViewSet, basename="api-staff-migration")

urlpatterns = [
    path("balancing/", BalancingView.as_view(), name="api-staff-balancing"),
    path("balancing/apply/", BalancingApplyView.as_view(), name="api-staff-balancing-apply"),
    path("balancing/policy/", BalancingPolicyView.as_view(), name="api-staff-balancing-policy"),
    *router.urls,
]
