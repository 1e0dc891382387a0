"""The staff console's routes, mounted at /console/ (names `console-*`; a migration is `migration-detail`,
the name `Migration.get_absolute_url` reverses)."""
from django.urls import path

from .views import balancing, fleet, hosts, instances, maintenance, migrations, placement

urlpatterns = [
    path("", fleet.fleet, name="console-fleet"),
    path("hosts/", hosts.HostListView.as_view(), name="console-hosts"),
    path("hosts/<str:name>/", hosts.host_detail, name="console-host"),
    path("hosts/<str:name>/state/<str:action>/", hosts.host_state, name="console-host-state"),
    path("hosts/<str:name>/maintenance/", maintenance.host_maintenance, name="console-host-maintenance"),
    path("hosts/<str:name>/maintenance/enter/", maintenance.maintenance_do_enter, name="console-maintenance-enter"),
    path("hosts/<str:name>/maintenance/cancel/", maintenance.maintenance_do_cancel, name="console-maintenance-cancel"),
    path("hosts/<str:name>/maintenance/exit/", maintenance.maintenance_do_exit, name="console-maintenance-exit"),
    path("hosts/<str:name>/upgrade/", maintenance.host_upgrade, name="console-host-upgrade"),
    path("instances/", instances.InstanceListView.as_view(), name="console-instances"),
    path("instances/<str:public_id>/", instances.instance_detail, name="console-instance"),
    path("instances/<str:public_id>/actions/<str:action>/", instances.instance_do, name="console-instance-action"),
    path("instances/<str:public_id>/migrate/", migrations.instance_migrate, name="console-instance-migrate"),
    path("migrations/", migrations.MigrationListView.as_view(), name="console-migrations"),
    path("migrations/<str:public_id>/", migrations.migration_detail, name="migration-detail"),
    path("migrations/<str:public_id>/abort/", migrations.migration_do_abort, name="console-migration-abort"),
    path("migrations/<str:public_id>/force/", migrations.migration_do_force, name="console-migration-force"),
    path("maintenance/", maintenance.maintenance_index, name="console-maintenance"),
    path("balancing/", balancing.balancing, name="console-balancing"),
    path("balancing/apply/", balancing.balancing_do_apply, name="console-balancing-apply"),
    path("balancing/policy/", balancing.balancing_policy_edit, name="console-balancing-policy"),
    path("placement/", placement.placement, name="console-placement"),
]
