"""Web pages (server-rendered + htmx fragments)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .forms import LoginForm

urlpatterns = [
    path("", views.MarketplaceView.as_view(), name="marketplace"),
    path("appliances/<slug:slug>/", views.appliance_detail, name="appliance-detail"),
    path("appliances/<slug:slug>/launch/", views.launch, name="launch"),
    path("appliances/<slug:slug>/launch/quota/", views.launch_quota, name="launch-quota"),
    path("launch/rule-row/", views.launch_rule_row, name="launch-rule-row"),
    path("instances/", views.InstanceListView.as_view(), name="instances"),
    path("instances/<str:public_id>/", views.instance_detail, name="instance-detail"),
    path("instances/<str:public_id>/progress/", views.instance_progress, name="instance-progress"),
    path("instances/<str:public_id>/credentials/", views.instance_reveal_credentials, name="instance-credentials"),
    path("instances/<str:public_id>/actions/<str:action>/", views.instance_do, name="instance-action"),
    path("keypairs/", views.keypairs, name="keypairs"),
    path("keypairs/<str:public_id>/delete/", views.keypair_remove, name="keypair-delete"),
    path("keypairs/<str:public_id>/download/", views.keypair_download, name="keypair-download"),
    path("access-keys/", views.access_keys, name="access-keys"),
    path("access-keys/<str:key_id>/revoke/", views.access_key_remove, name="access-key-revoke"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Pages without a <link rel="icon"> (admin, Swagger UI, the browsable API) ask for /favicon.ico.
    path("favicon.ico", views.favicon, name="favicon"),
]
