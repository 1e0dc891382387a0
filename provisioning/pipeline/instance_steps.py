"""The instance kind on the step engine: launch, stop, start, reboot and terminate, one step each.

Each step runs inside the engine's transaction holding the instance row, does its work, records
it and names the next step with its simulated duration (`engine.step_advance` schedules it).
The sequences below, with their labels, are what pages render as progress (`progress`).
"""
from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from django.utils import timezone

from .. import driver
from ..choices import ClaimKind, InstanceState, TaskState
from ..models import Instance
from ..selectors import instance_events
from ..services.claims import claims_release
from ..services.events import event_record
from ..services.passwords import password_store
from .engine import StepFailed, StepKind, StepOutcome, register_kind, step_schedule


def _console(inst: Instance, lines) -> None:
    lines = [str(line) for line in lines]
    if lines:
        inst.console_log = (inst.console_log + "\n" if inst.console_log else "") + "\n".join(lines)


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(14))
    return f"{core}!{secrets.randbelow(10)}"


def _needs_password(inst: Instance) -> bool:
    return inst.appliance.os_family == "windows" or not inst.key_pair_id


# --------------------------------------------------------------------------- launch
def step_copy_image(inst: Instance) -> StepOutcome:
    cached = inst.host.cached_appliances.filter(pk=inst.appliance_id).exists()
    stage = driver.image_copy_plan(inst.host, inst.appliance, cached)
    inst.task = TaskState.COPYING_IMAGE
    _console(inst, stage.console)
    how = "Cloning the cached image copy-on-write" if cached else \
        f"Copying the {inst.appliance.image_size_mib} MiB image"
    event_record(action="instance.copy_image", instance=inst,
                 message=f"{how} to {inst.host.name} ({stage.duration_s:.1f} s simulated)",
                 data={"method": stage.name, "duration_s": stage.duration_s})
    return StepOutcome("boot", stage.duration_s)


def step_boot(inst: Instance) -> StepOutcome:
    inst.host.cached_appliances.add(inst.appliance)  # the copy has finished: later launches clone
    first_boot = inst.launched_at is None
    password = None
    if first_boot and _needs_password(inst):
        password = _password()
        password_store(inst, password)
    try:
        plan = driver.boot_plan(inst, password=password, seed=inst.pk)
    except Exception as exc:  # the simulator refuses an impossible mode/config: say why
        raise StepFailed(f"The hypervisor on {inst.host.name} refused to boot it: {exc}") from exc
    inst.boot_plan = plan
    inst.task = TaskState.BOOTING
    stages = [s for s in plan["stages"] if s["name"] not in ("configure", "services")]
    for s in stages:
        _console(inst, s["console"])
    duration = sum(s["duration_s"] for s in stages)
    event_record(action="instance.boot", instance=inst,
                 message=f"Booting in {inst.virt_mode.replace('_', '-')} mode: "
                 + ", ".join(f"{s['name']} {s['duration_s']:.1f} s" for s in stages),
                 data={"stages": [{k: s[k] for k in ("name", "duration_s")} for s in stages]})
    return StepOutcome("configure", duration)


def step_configure(inst: Instance) -> StepOutcome:
    inst.task = TaskState.CONFIGURING
    stages = [s for s in inst.boot_plan.get("stages", []) if s["name"] in ("configure", "services")]
    for s in stages:
        _console(inst, s["console"])
    duration = sum(s["duration_s"] for s in stages)
    event_record(action="instance.configure", instance=inst,
                 message=f"Configuring {inst.hostname} ({inst.private_ip}): access rules, credentials, user data",
                 data={"applied": inst.boot_plan.get("applied", {})})
    return StepOutcome("finish_launch", duration)


def step_finish_launch(inst: Instance) -> StepOutcome:
    inst.state = InstanceState.RUNNING
    inst.task = TaskState.NONE
    inst.launched_at = timezone.now()
    event_record(action="instance.running", instance=inst,
                 message=f"Running on {inst.host.name} at {inst.private_ip}")
    return StepOutcome(None)


# --------------------------------------------------------------------------- power
def step_stop_guest(inst: Instance) -> StepOutcome:
    _console(inst, [f"[{inst.hostname}] Received ACPI power-button event; stopping services", "Powering off."])
    return StepOutcome("finish_stop", driver.shutdown_duration(inst))


def step_finish_stop(inst: Instance) -> StepOutcome:
    inst.state = InstanceState.STOPPED
    inst.task = TaskState.NONE
    event_record(action="instance.stopped", instance=inst, message="Stopped (capacity stays reserved on the host)")
    return StepOutcome(None)


def step_reboot_guest(inst: Instance) -> StepOutcome:
    _console(inst, [f"[{inst.hostname}] Reboot requested; restarting"])
    boot = sum(s["duration_s"] for s in inst.boot_plan.get("stages", []) if s["name"] not in ("firmware",))
    return StepOutcome("finish_reboot", driver.shutdown_duration(inst) + boot)


def step_finish_reboot(inst: Instance) -> StepOutcome:
    inst.task = TaskState.NONE
    _console(inst, [f"[{inst.hostname}] Reboot complete"])
    event_record(action="instance.rebooted", instance=inst, message="Rebooted")
    return StepOutcome(None)


def step_terminate_guest(inst: Instance) -> StepOutcome:
    if inst.host_id:
        _console(inst, [f"[{inst.hostname}] Terminating: powering off and deleting the disk"])
    return StepOutcome("finish_terminate", driver.shutdown_duration(inst) if inst.host_id else 0.0)


# The fields `step_finish_terminate` changes besides the state and task.
TERMINATED_FIELDS = ["terminated_at", "initial_password"]


def step_finish_terminate(inst: Instance) -> StepOutcome:
    # A live migration under way holds room on its destination too (released with it); the migration's
    # next step sees the instance gone and ends (it never locks the instance before its own row).
    released = ClaimKind.INSTANCE in claims_release(instance=inst)
    inst.state = InstanceState.TERMINATED
    inst.task = TaskState.NONE
    inst.terminated_at = timezone.now()
    inst.initial_password = ""
    event_record(action="instance.terminated", instance=inst,
                 message="Terminated" + (f"; capacity released on {inst.host.name}" if released else ""))
    return StepOutcome(None)


LAUNCH_FIRST_STEP = "copy_image"  # what a launch writes with its INSERT (services.launch)
STEPS: dict[str, Callable[[Instance], StepOutcome]] = {
    "copy_image": step_copy_image,
    "boot": step_boot,
    "configure": step_configure,
    "finish_launch": step_finish_launch,
    "stop_guest": step_stop_guest,
    "finish_stop": step_finish_stop,
    "reboot_guest": step_reboot_guest,
    "finish_reboot": step_finish_reboot,
    "terminate_guest": step_terminate_guest,
    "finish_terminate": step_finish_terminate,
}


def instance_fail(inst: Instance, reason: str) -> None:
    """End in `error` with a reason, give the capacity back (caller holds the row and saves)."""
    claims_release(instance=inst)
    inst.state = InstanceState.ERROR
    inst.task = TaskState.NONE
    inst.state_reason = reason
    inst.initial_password = ""
    step_schedule(inst, None)
    event_record(action="instance.error", instance=inst, message=reason, level="error")




def _redrive_event(inst: Instance, message: str, data: dict) -> None:
    event_record(action="instance.redrive", instance=inst, level="warning", message=message, data=data)


INSTANCE_KIND = register_kind(StepKind(
    name="instance", model=Instance, steps=STEPS, on_fail=instance_fail,
    select_related=("host", "appliance", "instance_type", "key_pair", "owner"),
    on_redrive=_redrive_event, stuck_note="; capacity released",
))


# --------------------------------------------------------------------------- progress, as pages show it
# Each sequence names its stages by the step that starts them ("schedule" and "power_on" are the
# request and the start transition) with the label pages show. The last stage is the outcome.
Sequence = tuple[tuple[str, str], ...]
LAUNCH_SEQUENCE: Sequence = (("schedule", "Scheduling"), ("copy_image", "Copying image"), ("boot", "Booting"),
                             ("configure", "Configuring"), ("finish_launch", "Running"))
START_SEQUENCE: Sequence = (("power_on", "Powering on"), ("boot", "Booting"), ("configure", "Configuring"),
                            ("finish_launch", "Running"))
REBOOT_SEQUENCE: Sequence = (("reboot_guest", "Rebooting"), ("finish_reboot", "Running"))
STOP_SEQUENCE: Sequence = (("stop_guest", "Powering off"), ("finish_stop", "Stopped"))
TERMINATE_SEQUENCE: Sequence = (("terminate_guest", "Shutting down"), ("finish_terminate", "Terminated"))
# The stage an instance is in, from its task (what it is doing now).
STAGE_OF_TASK = {
    TaskState.SCHEDULING: "schedule", TaskState.COPYING_IMAGE: "copy_image", TaskState.BOOTING: "boot",
    TaskState.CONFIGURING: "configure", TaskState.POWERING_ON: "power_on", TaskState.REBOOTING: "reboot_guest",
    TaskState.POWERING_OFF: "stop_guest", TaskState.DELETING: "terminate_guest",
}
# Events the launch writes as each stage starts (to show where a failed launch stopped).
STAGE_OF_EVENT = {"instance.request": "schedule", "instance.copy_image": "copy_image",
                  "instance.boot": "boot", "instance.configure": "configure"}


def _stages(sequence: Sequence, current: str | None, *, failed: bool = False) -> list[dict]:
    keys = [key for key, _ in sequence]
    index = keys.index(current) if current in keys else len(keys)
    out = []
    for i, (key, label) in enumerate(sequence):
        status = "done" if i < index else ("current" if i == index else "todo")
        if failed and i == index:
            status = "failed"
        out.append({"step": key, "label": label, "status": status})
    return out


def progress_with_title(inst: Instance) -> tuple[str, list[dict]]:
    """What the instance is going through ("Launch", "Stop", ...) and each stage: done, current,
    todo or failed. Pages render this; they never restate the order."""
    state, current = inst.state, STAGE_OF_TASK.get(inst.task)
    if state == InstanceState.PENDING:
        if inst.launched_at is None:
            return "Launch", _stages(LAUNCH_SEQUENCE, current or "schedule")
        return "Start", _stages(START_SEQUENCE, current or "power_on")
    if state == InstanceState.RUNNING and inst.task == TaskState.REBOOTING:
        return "Reboot", _stages(REBOOT_SEQUENCE, current)
    if state == InstanceState.RUNNING:
        if inst.task:  # e.g. migrating: the guest keeps running meanwhile
            return "Working", _stages(((inst.task, inst.get_task_display().capitalize()), ("done", "Running")),
                                      inst.task)
        # Idle: show what brought it here last (a reboot or a start is not a launch).
        last = (instance_events(instance=inst).filter(action__in=("instance.request", "instance.start",
                                                                   "instance.reboot"))
                .order_by("-id").values_list("action", flat=True).first())
        sequence = {"instance.reboot": ("Reboot", REBOOT_SEQUENCE),
                    "instance.start": ("Start", START_SEQUENCE)}.get(last, ("Launch", LAUNCH_SEQUENCE))
        return sequence[0], _stages(sequence[1], None)
    if state in (InstanceState.STOPPING, InstanceState.STOPPED):
        return "Stop", _stages(STOP_SEQUENCE, "stop_guest" if state == InstanceState.STOPPING else None)
    if state in (InstanceState.SHUTTING_DOWN, InstanceState.TERMINATED):
        return "Terminate", _stages(TERMINATE_SEQUENCE,
                                    "terminate_guest" if state == InstanceState.SHUTTING_DOWN else None)
    # error: how far the launch got before it failed
    if inst.launched_at is not None:
        return "Failed", _stages((("error", "Error"),), "error", failed=True)
    reached = "schedule"
    for action in instance_events(instance=inst).order_by("id").values_list("action", flat=True):
        reached = STAGE_OF_EVENT.get(action, reached)
    return "Launch failed", _stages(LAUNCH_SEQUENCE[:-1] + (("error", "Error"),), reached, failed=True)


def progress(inst: Instance) -> list[dict]:
    """The stages of what the instance is going through now: [{"step", "label", "status"}]."""
    return progress_with_title(inst)[1]
