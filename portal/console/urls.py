"""The staff console's routes, mounted at /console/ (names `console-*`; a migration is `migration-detail`,
the name `Migration.get_absolute_url` reverses)."""
from django.urls import path

from .views import fleet, hosts, instances, migrations, placement

urlpatterns = [
    path("", fleet.fleet, name="console-fleet"),
    path("hosts/", hosts.HostListView.as_view(), name="console-hosts"),
    path("hosts/<str:name>/", hosts.host_detail, name="console-host"),
    path("hosts/<str:name>/state/<str:action>/", hosts.host_state, name="console-host-state"),
    path("instances/", instances.InstanceListView.as_view(), name="console-instances"),
    path("instances/<str:public_id>/", instances.instance_detail, name="console-instance"),
    path("instances/<str:public_id>/actions/<str:action>/", instances.instance_do, name="console-instance-action"),
    path("instances/<str:public_id>/migrate/", migrations.instance_migrate, name="console-instance-migrate"),
    path("migrations/", migrations.MigrationListView.as_view(), name="console-migrations"),
    path("migrations/<str:public_id>/", migrations.migration_detail, name="migration-detail"),
    path("migrations/<str:public_id>/abort/", migrations.migration_do_abort, name="console-migration-abort"),
    path("migrations/<str:public_id>/force/", migrations.migration_do_force, name="console-migration-force"),
    path("placement/", placement.placement, name="console-placement"),
]
