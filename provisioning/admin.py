"""Django admin for the catalog and the fleet (operators' raw view)."""
from django.contrib import admin

from .models import (
    Appliance,
    Claim,
    Event,
    Host,
    Instance,
    InstanceType,
    KeyPair,
    PlacementGroup,
    Quota,
    Reservation,
    SecurityGroup,
    SecurityGroupRule,
)


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


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ("name", "availability_zone", "state", "is_up", "pcpus", "vcpus_used", "vcpus_limit",
                    "memory_mib_used", "memory_mib_limit", "instances_used", "hypervisor_version")
    list_filter = ("state", "availability_zone", "is_up", "has_hw_virt", "hypervisor_version")
    search_fields = ("name",)
    readonly_fields = ("vcpus_limit", "memory_mib_limit", "disk_gib_limit", "vcpus_used", "memory_mib_used",
                       "disk_gib_used", "instances_used", "is_64bit", "has_hw_virt")


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
class ClaimAdmin(admin.ModelAdmin):
    list_display = ("instance", "host", "kind", "vcpus", "memory_mib", "disk_gib", "created_at")
    list_filter = ("kind",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor", "instance", "host", "level", "message")
    list_filter = ("action", "level")
    search_fields = ("message", "instance__public_id")

    # The event log is an audit trail: written by the services only, never made up or edited here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("public_id", "owner", "min_count", "max_count", "created_at")

    def has_add_permission(self, request):
        return False  # reservations are made by the request service, with their instances


admin.site.register(KeyPair, list_display=("name", "public_id", "owner", "key_type", "fingerprint"))
admin.site.register(Quota, list_display=("user", "instances", "vcpus", "memory_mib"))
admin.site.register(PlacementGroup, list_display=("name", "public_id", "owner", "strategy", "strict"))
admin.site.site_header = "Skyport administration"
admin.site.site_title = "Skyport admin"
admin.site.index_title = "Fleet, catalog and accounts"
