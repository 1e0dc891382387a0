"""REST shapes of the staff API: hosts, every tenant's instances, maintenance, balancing, migrations."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.api.serializers import InstanceSerializer, StrictSerializer, TextField
from provisioning.choices import BalancingMode
from provisioning.models import Host, Instance, Maintenance, Migration, MigrationRound
from provisioning.pipeline.maintenance_steps import maintenance_remaining


class RatiosSerializer(serializers.Serializer):
    vcpus = serializers.FloatField(help_text="vCPUs allocated / schedulable vCPUs (0..1)")
    memory = serializers.FloatField(help_text="memory allocated / schedulable memory (0..1)")
    disk = serializers.FloatField(help_text="disk allocated / schedulable disk (0..1)")
    instances = serializers.FloatField(help_text="instances / max_instances (0..1)")


class FiguresSerializer(serializers.Serializer):
    vcpus = serializers.IntegerField()
    memory_mib = serializers.IntegerField()
    disk_gib = serializers.IntegerField()
    instances = serializers.IntegerField()


def _figures(host: Host, suffix: str) -> dict:
    return {"vcpus": getattr(host, f"vcpus_{suffix}"), "memory_mib": getattr(host, f"memory_mib_{suffix}"),
            "disk_gib": getattr(host, f"disk_gib_{suffix}"),
            "instances": host.max_instances if suffix == "limit" else host.instances_used}


class HostSerializer(serializers.ModelSerializer):
    pcpus = serializers.IntegerField(read_only=True, help_text="hardware threads")
    limits = serializers.SerializerMethodField(help_text="schedulable totals (physical x allocation ratio)")
    used = serializers.SerializerMethodField(help_text="what the host's claims hold (the capacity ledger)")
    utilisation = RatiosSerializer(read_only=True)
    guests = serializers.IntegerField(read_only=True, help_text="live instances on the host")

    class Meta:
        model = Host
        fields = ["name", "availability_zone", "state", "is_up", "cpu_model", "cpu_features", "supported_modes",
                  "hypervisor_version", "pcpus", "memory_mib", "disk_gib", "nic_mibps", "cpu_allocation_ratio",
                  "ram_allocation_ratio", "limits", "used", "utilisation", "guests"]
        read_only_fields = fields

    @extend_schema_field(FiguresSerializer)
    def get_limits(self, host: Host) -> dict:
        return _figures(host, "limit")

    @extend_schema_field(FiguresSerializer)
    def get_used(self, host: Host) -> dict:
        return _figures(host, "used")


class GuestSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    owner = serializers.CharField(source="owner.username")
    instance_type = serializers.CharField(source="instance_type.name")
    vcpus = serializers.IntegerField(source="instance_type.vcpus")
    memory_mib = serializers.IntegerField(source="instance_type.memory_mib")
    appliance = serializers.CharField(source="appliance.name")

    class Meta:
        model = Instance
        fields = ["id", "name", "owner", "state", "task", "instance_type", "vcpus", "memory_mib", "appliance",
                  "virt_mode", "private_ip"]
        read_only_fields = fields


class HostDetailSerializer(HostSerializer):
    guest_list = serializers.SerializerMethodField(help_text="the live instances on the host, largest first")

    class Meta(HostSerializer.Meta):
        fields = HostSerializer.Meta.fields + ["guest_list"]
        read_only_fields = fields

    @extend_schema_field(GuestSerializer(many=True))
    def get_guest_list(self, host: Host) -> list:
        return GuestSerializer(self.context["guests"], many=True).data


class StaffInstanceSerializer(InstanceSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True, help_text="the tenant (username)")

    class Meta(InstanceSerializer.Meta):
        fields = InstanceSerializer.Meta.fields + ["owner"]
        read_only_fields = fields

    def get_host(self, inst) -> str | None:
        return inst.host.name if inst.host_id else None  # operators always see the host

    def get_state_reason(self, inst) -> str:
        return inst.state_reason


# --------------------------------------------------------------------------- maintenance
class NoteSerializer(StrictSerializer):
    note = TextField(required=False, allow_blank=True, max_length=255, default="",
                     help_text="why (kept in the events)")


class CancelSerializer(NoteSerializer):
    abort_running = serializers.BooleanField(required=False, default=False,
                                             help_text="also abort migrations already copying (default: they "
                                                       "finish; queued ones are always dropped)")


class UpgradeSerializer(StrictSerializer):
    version = TextField(help_text="the new hypervisor version, newer than the host's, e.g. 7.0.4")


class GuestPlanSerializer(serializers.Serializer):
    instance = serializers.CharField()
    name = serializers.CharField()
    owner = serializers.CharField()
    state = serializers.CharField()
    task = serializers.CharField()
    vcpus = serializers.IntegerField()
    memory_mib = serializers.IntegerField()
    virt_mode = serializers.CharField()
    action = serializers.ChoiceField(choices=["live-migrate", "re-home", "leaves", "wait", "cannot move"])
    destination = serializers.CharField(allow_null=True)
    memory_to_copy_mib = serializers.IntegerField()
    predicted_start_s = serializers.FloatField(allow_null=True)
    predicted_s = serializers.FloatField(allow_null=True)
    predicted_downtime_ms = serializers.FloatField(allow_null=True)
    reason = serializers.CharField(help_text="why it cannot move, or what it waits for")


class PreflightSerializer(serializers.Serializer):
    host = serializers.CharField()
    host_state = serializers.CharField()
    feasible = serializers.BooleanField(help_text="every guest can move: entering maintenance is allowed")
    guests = GuestPlanSerializer(many=True)
    memory_to_copy_mib = serializers.IntegerField()
    predicted_total_s = serializers.FloatField(help_text="simulated seconds until the last move ends")
    concurrency = serializers.IntegerField(help_text="moves the host carries at once")
    message = serializers.CharField()


class MaintenanceRefusedSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    preflight = PreflightSerializer()


class RemainingSerializer(serializers.Serializer):
    instance = serializers.CharField()
    state = serializers.CharField()
    why = serializers.CharField()


class MaintenanceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    host = serializers.CharField(source="host.name")
    host_state = serializers.CharField(source="host.state")
    remaining = serializers.SerializerMethodField(help_text="guests still on the host now, each with why")

    class Meta:
        model = Maintenance
        fields = ["id", "host", "host_state", "status", "requested_by", "request_note", "reason", "note",
                  "remaining", "guests_total", "migrations_started", "rehomed", "hypervisor_before",
                  "hypervisor_after", "preflight", "created_at", "entered_at", "finished_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(RemainingSerializer(many=True))
    def get_remaining(self, m: Maintenance) -> list:
        return maintenance_remaining(m)


# --------------------------------------------------------------------------- balancing
class BalancingQuerySerializer(StrictSerializer):
    threshold = serializers.IntegerField(required=False, min_value=1, max_value=5,
                                         help_text="level 1 (only a badly skewed fleet) .. 5 (any gain)")
    max_moves = serializers.IntegerField(required=False, min_value=1, max_value=100)


class BalancingApplySerializer(BalancingQuerySerializer):
    instance = TextField(required=False, help_text="apply only the recommendation for this instance (i-…)")


class RecommendationSerializer(serializers.Serializer):
    instance = serializers.CharField()
    instance_name = serializers.CharField()
    owner = serializers.CharField()
    source = serializers.CharField()
    destination = serializers.CharField()
    priority = serializers.IntegerField(help_text="1 most urgent .. 5 slight gain")
    reason = serializers.CharField()
    memory_to_copy_mib = serializers.IntegerField(help_text="the cost: memory a live migration copies")
    vcpus = serializers.IntegerField()
    imbalance_before = serializers.FloatField()
    imbalance_after = serializers.FloatField()
    source_load_before = serializers.FloatField()
    source_load_after = serializers.FloatField()
    destination_load_before = serializers.FloatField()
    destination_load_after = serializers.FloatField()
    benefit_gib = serializers.FloatField(help_text="imbalance removed x the balanced hosts' memory, in GiB")


class BalancingPolicySerializer(StrictSerializer):
    """The balancer's stored policy (a PUT gives both fields, a PATCH either)."""

    mode = serializers.ChoiceField(choices=BalancingMode.choices,
                                   help_text="manual: recommend, staff apply; automatic: beat applies them")
    threshold = serializers.IntegerField(min_value=1, max_value=5,
                                         help_text="level 1 (only a badly skewed fleet) .. 5 (any gain)")
    updated_by = serializers.CharField(read_only=True, help_text="who set it last (empty: still the setting's "
                                                                 "SKYPORT_BALANCING default)")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class BalancingPolicyChangeSerializer(BalancingPolicySerializer):
    changes = serializers.ListField(child=serializers.CharField(), read_only=True,
                                    help_text='what changed, e.g. "mode manual → automatic"; empty: nothing')
    message = serializers.CharField(read_only=True)


class BalancingPlanSerializer(serializers.Serializer):
    hosts = serializers.IntegerField()
    threshold = serializers.IntegerField()
    mode = serializers.CharField()
    imbalance = serializers.FloatField(help_text="standard deviation of the schedulable hosts' loads")
    priority = serializers.IntegerField()
    target_imbalance = serializers.FloatField(help_text="the largest imbalance the threshold tolerates")
    imbalance_after = serializers.FloatField(help_text="expected once every recommendation is applied")
    recommendations = RecommendationSerializer(many=True)
    message = serializers.CharField()
    loads = serializers.DictField(child=serializers.FloatField(), help_text="each schedulable host's load, 0..1")
    policy = BalancingPolicySerializer(help_text="the stored policy (`threshold` above may be a preview's)")


class BalancingRunSerializer(serializers.Serializer):
    plan = BalancingPlanSerializer()
    started = serializers.ListField(child=serializers.DictField())
    refused = serializers.ListField(child=serializers.DictField())
    message = serializers.CharField()


# --------------------------------------------------------------------------- migrations
class MigrationCreateSerializer(StrictSerializer):
    instance = TextField(help_text="the running instance to move (i-…)")
    destination = TextField(required=False, help_text="a host name; omitted: the scheduler chooses (the "
                                                      "launch's filters and weighers, the source excluded)")
    downtime_limit_ms = serializers.FloatField(required=False, min_value=1)
    auto_converge = serializers.BooleanField(required=False)
    note = TextField(required=False, allow_blank=True, max_length=255, default="")


class InstanceMigrateSerializer(StrictSerializer):
    destination = TextField(required=False)
    note = TextField(required=False, allow_blank=True, max_length=255, default="")


class ForceCompleteSerializer(StrictSerializer):
    mode = serializers.ChoiceField(choices=["auto_converge", "stop_and_copy"], default="auto_converge",
                                   help_text="throttle the guest until it converges, or pause it and copy the "
                                             "rest now (the downtime shown by the preview)")


class MigrationRoundSerializer(serializers.ModelSerializer):
    class Meta:
        model = MigrationRound
        fields = ["round", "sent_mib", "dirty_mib", "dirty_rate_mibps", "remaining_mib", "transfer_rate_mibps",
                  "duration_s", "throttle_pct", "stop_and_copy", "aborted", "created_at"]
        read_only_fields = fields


class MigrationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    instance = serializers.CharField(source="instance.public_id")
    owner = serializers.CharField(source="instance.owner.username")
    source = serializers.CharField(source="source_host.name")
    destination = serializers.CharField(source="dest_host.name")

    class Meta:
        model = Migration
        fields = ["id", "instance", "owner", "source", "destination", "status", "reason", "requested_by",
                  "request_note", "destination_named", "downtime_limit_ms", "auto_converge", "completion_timeout_s",
                  "progress_timeout_s", "memory_total_bytes", "memory_processed_bytes", "memory_remaining_bytes",
                  "round", "dirty_rate_mibps", "transfer_rate_mibps", "throttle_pct", "elapsed_s", "downtime_ms",
                  "predicted_downtime_ms", "eta_s", "converging", "note", "force_mode", "created_at", "queued_at",
                  "preparing_at", "running_at", "finished_at", "updated_at"]
        read_only_fields = fields


class MigrationDetailSerializer(MigrationSerializer):
    rounds = MigrationRoundSerializer(many=True, read_only=True)

    class Meta(MigrationSerializer.Meta):
        fields = MigrationSerializer.Meta.fields + ["rounds"]
        read_only_fields = fields
