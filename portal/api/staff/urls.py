"""Routes of the staff API, mounted at /api/v1/staff/."""
from rest_framework.routers import DefaultRouter

from .hosts import HostViewSet
from .instances import StaffInstanceViewSet


class Router(DefaultRouter):
    include_format_suffixes = False  # host names and ids are lookups, not formats
    include_root_view = False


router = Router()
router.register("hosts", HostViewSet, basename="api-staff-host")
router.register("instances", StaffInstanceViewSet, basename="api-staff-instance")

urlpatterns = router.urls
