"""Top-level URL map: web pages, Django admin, REST API and its docs."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("portal.api.urls")),
    path("", include("portal.web.urls")),
]
