"""Django admin for the catalog and the fleet (operators' raw view).

Host edits save through `services/hosts.py` (checked, logged); the ledger and the audit trail
(claims, events, reservations, idempotency records) are read-only here: only services write them.
"""
import copy

from django import forms
from django.contrib import admin

from .models import (
    Appliance,
    Claim,
    Event,
    Host,
    IdempotencyRecord,
    Instance,
    InstanceType,
    KeyPair,
    Maintenance,
    Migration,
    MigrationRound,
    PlacementGroup,
    Quota,
    Reservation,
    SecurityGroup,
    SecurityGroupRule,
)
from .services.hosts import EDITABLE, host_create, host_problems, host_update


@admin.register(Appliance)
class ApplianceAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "os_family", "os_version", "architecture", "category", "image_size_mib",
                    "is_public")
    list_filter = ("os_family", "architecture", "category", "is_public")
    search_fields = ("name", "slug", "public_id", "os_name", "stack")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("public_id",)


@admin.register(InstanceType)
class InstanceTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "vcpus", "memory_mib", "disk_gib")


class HostForm(forms.ModelForm):
    reason = forms.CharField(required=False, max_length=200,
                             help_text="Why (goes into the event log; needed to disable a host).")

    class Meta:
        model = Host
        fields = (*EDITABLE, "cached_appliances")

    def clean(self) -> dict:
        """The hosts service's checks, shown on the form (the save runs them again under the row lock)."""
        data = super().clean()
        probe = copy.copy(self.instance)
        for name in EDITABLE:
            if name in data:
                setattr(probe, name, data[name])
        was = self.instance.state if self.instance.pk else None
        version_was = self.instance.hypervisor_version if self.instance.pk else None
        for name, message in host_problems(probe, reason=data.get("reason") or "", was=was,
                                           version_was=version_was).items():
            self.add_error(name if name in self.fields else None, message)
        return data


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    form = HostForm
    list_display = ("name", "availability_zone", "state", "is_up", "pcpus", "vcpus_used", "vcpus_limit",
                    "memory_mib_used", "memory_mib_limit", "instances_used", "hypervisor_version")
    list_filter = ("state", "availability_zone", "is_up", "has_hw_virt", "hypervisor_version")
    search_fields = ("name",)
    readonly_fields = ("vcpus_limit", "memory_mib_limit", "disk_gib_limit", "vcpus_used", "memory_mib_used",
                       "disk_gib_used", "instances_used", "is_64bit", "has_hw_virt")

    def save_model(self, request, obj: Host, form: HostForm, change: bool) -> None:
        """Through the hosts service: the change is checked with the row locked and logged."""
        actor = request.user.get_username()
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE}
            host_update(actor=actor, host=obj, reason=form.cleaned_data.get("reason") or "", **changes)
        else:
            obj.pk = host_create(actor=actor, **{name: getattr(obj, name) for name in EDITABLE}).pk


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added, changed or deleted by hand (services write these rows)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SecurityGroupRuleInline(admin.TabularInline):
    model = SecurityGroupRule
    extra = 0


@admin.register(SecurityGroup)
class SecurityGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "owner")
    inlines = [SecurityGroupRuleInline]


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("public_id", "name", "owner", "state", "task", "host", "private_ip", "created_at")
    list_filter = ("state", "task", "virt_mode")
    search_fields = ("public_id", "name", "owner__username", "private_ip")
    readonly_fields = [f.name for f in Instance._meta.fields if f.name != "name"]

    def has_add_permission(self, request):
        return False  # instances are created through the request service only


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ("instance", "host", "kind", "vcpus", "memory_mib", "disk_gib", "created_at")
    list_filter = ("kind",)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The event log is an audit trail: written by the services only, never made up or edited here."""

    list_display = ("created_at", "action", "actor", "instance", "host", "level", "message")
    list_filter = ("action", "level")
    search_fields = ("message", "instance__public_id")


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """Made by the launch service, with their instances."""

    list_display = ("public_id", "owner", "min_count", "max_count", "created_at")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("owner", "scope", "key", "reservation", "created_at")
    search_fields = ("key", "owner__username")


admin.site.register(KeyPair, list_display=("name", "public_id", "owner", "key_type", "fingerprint"))
admin.site.register(Quota, list_display=("user", "instances", "vcpus", "memory_mib"))
admin.site.register(PlacementGroup, list_display=("name", "public_id", "owner", "strategy", "strict"))
admin.site.site_header = "Skyport administration"
admin.site.site_title = "Skyport admin"
admin.site.index_title = "Fleet, catalog and accounts"


class MigrationRoundInline(admin.TabularInline):
    model = MigrationRound
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Migration)
class MigrationAdmin(admin.ModelAdmin):
    """Read-only: migrations are started, aborted and forced through the migrations service."""

    list_display = ("public_id", "instance", "source_host", "dest_host", "status", "round", "downtime_ms",
                    "created_at")
    list_filter = ("status",)
    search_fields = ("public_id", "instance__public_id", "source_host__name", "dest_host__name")
    inlines = [MigrationRoundInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Maintenance)
class MaintenanceAdmin(ReadOnlyAdmin):
    """Read-only: maintenance is entered, cancelled and exited through the maintenance service."""

    list_display = ("public_id", "host", "status", "requested_by", "guests_total", "migrations_started", "rehomed",
                    "created_at", "entered_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("public_id", "host__name", "requested_by")
