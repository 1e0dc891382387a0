from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Cloud manager"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the step kinds in every process (web, worker, beat, shell) before any step runs.
        from .pipeline import instance_steps, maintenance_steps, migration_steps  # noqa: F401
