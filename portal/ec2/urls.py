"""`/ec2/` (with or without the slash): boto3 `endpoint_url="http://<portal>/ec2/"`."""
from django.urls import re_path

from . import views

urlpatterns = [re_path(r"^$", views.endpoint, name="ec2-endpoint")]
