"""The only bridge from the cloud manager into the hypervisor (`hypervisor_sim`).

A real driver (libvirt/QEMU) could replace this module without touching the surfaces: the rest of
`provisioning` sees plain data (modes, reasons, durations, console lines), never simulator types.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import hypervisor_sim as sim
from hypervisor_sim.evacuation import SRIOV_PINNED

from .choices import MODE_PREFERENCE
from .models import Appliance, Host, Instance, InstanceType

# The simulator's workload profile for each marketplace category (drives its cost and dirty-page models).
WORKLOAD_BY_CATEGORY = {"web": "web_server", "cms": "web_server", "database": "database", "container": "web_server",
                        "devops": "cpu_bound", "os": "idle"}

# Guest shutdown/reboot are short and not modelled stage by stage in the simulator's boot plan.
SHUTDOWN_S = {"container": 1.0, "default": 6.0}


@dataclass(frozen=True)
class Stage:
    name: str
    duration_s: float
    console: tuple[str, ...]


def host_spec(host: Host) -> sim.HostSpec:
    return sim.HostSpec(
        name=host.name,
        sockets=host.sockets,
        cores_per_socket=host.cores_per_socket,
        threads_per_core=host.threads_per_core,
        cpu_features=frozenset(host.cpu_features or ()),
        memory_mib=host.memory_mib,
        disk_mibps=host.disk_mibps,
        nic_mibps=host.nic_mibps,
        hypervisor_version=host.hypervisor_version,
    )


def guest_spec(appliance: Appliance, instance_type: InstanceType) -> sim.GuestSpec:
    return sim.GuestSpec(
        vcpus=instance_type.vcpus,
        memory_mib=instance_type.memory_mib,
        disk_gib=instance_type.disk_gib,
        os_family=appliance.os_family,
        os_name=f"{appliance.os_name} {appliance.os_version}".strip(),
        kernel=appliance.kernel or ("nt" if appliance.os_family == "windows" else "linux"),
        pv_aware=appliance.pv_aware,
        open_source_kernel=appliance.open_source_kernel,
        arch=appliance.architecture,
        workload=WORKLOAD_BY_CATEGORY.get(appliance.category, "web_server"),
        appliance=appliance.public_id,
        nic=instance_type.nic,
    )


def live_migration_blocker(instance_type: InstanceType) -> str:
    """Why a guest of this type cannot be live-migrated at all ("" when it can): the simulator's rule."""
    return SRIOV_PINNED if instance_type.nic == "sriov" else ""


def mode_check(
    host: Host, appliance: Appliance, instance_type: InstanceType, mode: str
) -> tuple[bool, tuple[str, ...]]:
    """Can this host run this appliance in this mode? Reasons in words when not."""
    if mode not in (appliance.supported_modes or []):
        return False, (f"{appliance.name} is not built for {mode.replace('_', '-')} mode",)
    result = sim.check_compatibility(host_spec(host), guest_spec(appliance, instance_type), mode)
    return bool(result.ok), tuple(result.reasons)


def mode_choose(host: Host, appliance: Appliance, instance_type: InstanceType,
                requested: str | None = None) -> tuple[str | None, tuple[str, ...]]:
    """Best mode both sides support (fastest first), or None with every refusal's reason."""
    candidates = [requested] if requested else sorted(
        appliance.supported_modes or [], key=lambda m: MODE_PREFERENCE.index(m) if m in MODE_PREFERENCE else 99
    )
    reasons: list[str] = []
    for mode in candidates:
        ok, why = mode_check(host, appliance, instance_type, mode)
        if ok:
            return mode, ()
        reasons.extend(why)
    return None, tuple(reasons)


def image_copy_plan(host: Host, appliance: Appliance, cached: bool) -> Stage:
    plan = sim.plan_image_copy(appliance.image_size_mib, host_spec(host), cached)
    return Stage(f"image_{plan.method}", float(plan.duration_s), tuple(plan.console))


def mac_for(instance: Instance) -> str:
    digest = hashlib.sha1(instance.public_id.encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def boot_plan(instance: Instance, *, password: str | None, seed: int = 0) -> dict:
    """The simulator's boot plan for this instance as JSON-able data (stored on the instance)."""
    rules = tuple(
        sim.AccessRule(protocol=r.protocol, from_port=r.from_port, to_port=r.to_port, cidr=r.cidr)
        for g in instance.security_groups.all()
        for r in g.rules.all()
    )
    network = instance.host.network_cidr
    gateway = network.rsplit(".", 1)[0] + ".1" if network.count(".") == 3 else ""
    config = sim.BootConfig(
        hostname=instance.hostname,
        mac=instance.mac_address,
        ip=instance.private_ip,
        netmask="255.255.255.0",
        gateway=gateway,
        dns=(gateway,) if gateway else (),
        access_rules=rules,
        ssh_public_key=instance.key_pair.public_key if instance.key_pair_id else None,
        password=password,
        user_data=instance.user_data,
        first_boot=instance.launched_at is None,
    )
    plan = sim.plan_boot(
        host_spec(instance.host), guest_spec(instance.appliance, instance.instance_type),
        instance.virt_mode, config, seed=seed,
    )
    return {
        "stages": [
            {"name": s.name, "duration_s": float(s.duration_s), "console": list(s.console)} for s in plan.stages
        ],
        "total_s": float(plan.total_s),
        "applied": _jsonable(plan.applied),
    }


def shutdown_duration(instance: Instance) -> float:
    return SHUTDOWN_S["container" if instance.virt_mode == "container" else "default"]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "__dict__"):
        return _jsonable(vars(value))
    return str(value)


# --------------------------------------------------------------------------- balancing and evacuation figures
# A host's load figures for balancing: (memory allocated MiB, memory limit MiB, vCPUs allocated, vCPU limit).
LoadFigures = tuple[int, int, int, int]


def _host_loads(loads: dict[str, LoadFigures]) -> list[sim.HostLoad]:
    return [sim.HostLoad(name, m, ml, v, vl) for name, (m, ml, v, vl) in loads.items() if ml > 0 and vl > 0]


def host_load(figures: LoadFigures) -> float:
    """A host's load, 0..1: the larger of its allocated memory and vCPU shares (the simulator's rule)."""
    return sim.HostLoad("h", *figures).load if figures[1] > 0 and figures[3] > 0 else 0.0


def fleet_imbalance(loads: dict[str, LoadFigures]) -> float:
    """The standard deviation of the hosts' loads (vSphere DRS's current host load standard deviation)."""
    return sim.imbalance(_host_loads(loads))


def imbalance_priority(value: float, n_hosts: int) -> int:
    """DRS priority 1 (most urgent) .. 5 (slight gain) of a fleet of `n_hosts` this uneven."""
    return sim.imbalance_priority(value, max(1, n_hosts))


def move_effect(loads: dict[str, LoadFigures], *, source: str, destination: str, memory_mib: int,
                vcpus: int) -> dict:
    """Imbalance and both hosts' loads before and after one move (plain data)."""
    return sim.move_effect(_host_loads(loads), source=source, destination=destination, memory_mib=memory_mib,
                           vcpus=vcpus).to_dict()


def move_effects(loads: dict[str, LoadFigures]) -> Callable[..., dict]:
    """`move_effect` for many proposed moves against the same loads: the fleet is read once, each move then
    costs O(1) whatever the fleet's size. Call the result as `move_effect` without `loads`."""
    fleet = sim.FleetLoads(_host_loads(loads))
    return lambda **move: fleet.move_effect(**move).to_dict()


def evacuation_timing(source: Host, moves: list[tuple[Instance, Host]], *, downtime_limit_ms: float,
                      auto_converge: bool, concurrency: int | None = None) -> dict:
    """Predicted start, duration, downtime and outcome of each move (given, never chosen here) and the
    wall time until the last ends, in simulated seconds (JSON-ready; moves keyed by instance id)."""
    planned = [sim.PlannedMove(inst.public_id, guest_spec(inst.appliance, inst.instance_type), host_spec(dest))
               for inst, dest in moves]
    timing = sim.time_evacuation(host_spec(source), planned, concurrency=concurrency,
                                 downtime_limit_ms=downtime_limit_ms, auto_converge=auto_converge)
    return timing.to_dict()


def migration_slots(host: Host) -> int:
    """Live migrations the host's link carries at once (vMotion: 4 on 1 GbE, 8 on 10 GbE)."""
    return int(sim.default_concurrency(host_spec(host)))


# --------------------------------------------------------------------------- live migration
# A run travels between Celery tasks as the simulator's JSON state (`MigrationRun.to_state`): a task
# loads it, runs one round, saves it. Everything below takes and returns plain data.
def link_share(link_mibps: float, sharing: int) -> float:
    """What each of `sharing` concurrent migrations gets of one link."""
    return float(sim.split_link(link_mibps, max(1, sharing)))


def migration_new(instance: Instance, source: Host, destination: Host, *, downtime_limit_ms: float,
                  auto_converge: bool, completion_timeout_s: float, fault: dict | None = None) -> dict:
    """A fresh run of this guest between these hosts (the guest's workload sets its dirty rate)."""
    options = dict(downtime_limit_ms=downtime_limit_ms, auto_converge=auto_converge,
                   completion_timeout_s=completion_timeout_s, seed=instance.pk or 0)
    if fault:
        options["fault"] = sim.Fault(**fault)
    cfg = sim.MigrationConfig.for_guest(guest_spec(instance.appliance, instance.instance_type),
                                        host_spec(source), host_spec(destination), **options)
    return sim.MigrationRun(cfg).to_state()


def migration_fault_check(fault: dict) -> str:
    """"" when the simulator accepts this fault to inject, else what is wrong with it."""
    try:
        sim.Fault(**fault)
    except (TypeError, ValueError) as exc:
        return f"{exc}; e.g. {{\"kind\": \"destination_failure\", \"at_round\": 2}} (kinds: " \
               f"{', '.join(sim.migration.FAULT_KINDS)})"
    return ""


def _summary(run) -> dict | None:
    if not run.done:
        return None
    result = run.result()
    return {"outcome": result.outcome, "reason": result.reason, "downtime_ms": result.downtime_ms,
            "converged_by": result.converged_by, "total_mib": result.total_mib, "total_s": result.total_s}


def migration_progress(state: dict, bandwidth_mibps: float | None = None) -> dict:
    """Nova's byte fields, rates, `converging`, ETA and a note, at the next round's bandwidth."""
    return sim.MigrationRun.from_state(state).progress(bandwidth_mibps).to_dict()


def migration_next_round_s(state: dict, bandwidth_mibps: float) -> float:
    """How long the next round takes at this bandwidth (the step waits that long, then runs it)."""
    return float(sim.MigrationRun.from_state(state).next_round_s(bandwidth_mibps))


def migration_round(state: dict, bandwidth_mibps: float) -> tuple[dict, dict, dict, dict | None]:
    """Run one round: (new state, the round's record, progress after it, outcome once finished)."""
    run = sim.MigrationRun.from_state(state)
    record = run.step(bandwidth_mibps)
    return run.to_state(), record.to_dict(), run.progress().to_dict(), _summary(run)


def migration_preview(state: dict, mode: str, bandwidth_mibps: float | None = None) -> dict:
    """What forcing completion would do, without doing it: the downtime a stop-and-copy costs now,
    or the throttle auto-converge would start at."""
    run = sim.MigrationRun.from_state(state)
    if mode == "stop_and_copy":
        return {"mode": mode, "predicted_downtime_ms": float(run.predict_downtime_ms(bandwidth_mibps))}
    throttle = run.force_converge()
    return {"mode": mode, "throttle_pct": float(throttle),
            "predicted_downtime_ms": float(run.predict_downtime_ms(bandwidth_mibps))}


def migration_force(state: dict, mode: str) -> tuple[dict, dict]:
    """Force completion from the next round: "stop_and_copy" (downtime as predicted) or "auto_converge"."""
    run = sim.MigrationRun.from_state(state)
    if mode == "stop_and_copy":
        applied = {"mode": mode, "predicted_downtime_ms": float(run.force_stop_and_copy())}
    else:
        applied = {"mode": mode, "throttle_pct": float(run.force_converge())}
    return run.to_state(), applied


def migration_end(state: dict, *, cancelled: bool, reason: str) -> tuple[dict, dict | None]:
    """End an unfinished run between rounds (the guest stays on the source); a finished one is left as is."""
    run = sim.MigrationRun.from_state(state)
    if not run.done:
        (run.abort if cancelled else run.fail)(reason)
    return run.to_state(), _summary(run)


def port_move(applied: dict, host: Host, ip: str) -> dict:
    """The guest's network as configured at boot, after a live migration to `host` at `ip`: the same
    MAC and access rules on a port of the destination's virtual switch."""
    network = host.network_cidr
    gateway = network.rsplit(".", 1)[0] + ".1" if network.count(".") == 3 else ""
    port = {**(applied.get("vswitch_port") or {}), "ip": ip, "host": host.name}
    return {**applied, "ip": ip, "gateway": gateway, "dns": [gateway] if gateway else [], "host": host.name,
            "vswitch_port": port}
