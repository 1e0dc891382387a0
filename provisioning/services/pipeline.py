"""The launch/stop/start/reboot/terminate pipelines, one idempotent step at a time.

Each step runs inside a transaction holding the instance row, does its work, records it, names
the next step and schedules it with a countdown of `duration x SKYPORT_SIM_SPEED`. A message
carries the step sequence number it was sent for; a redelivered or stale message finds the
number moved on and does nothing. Workers never sleep through simulated time.
"""
from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import driver
from ..choices import InstanceState, TaskState
from ..models import Instance
from .claims import claim_release
from .events import event_record

log = logging.getLogger("skyport.pipeline")

# Extra time a step may take past its simulated duration before the reconciler calls it stuck.
STEP_GRACE_S = 60.0


@dataclass(frozen=True)
class StepOutcome:
    next_step: str | None
    delay_s: float = 0.0


class StepFailed(Exception):
    """A step cannot go on; the instance ends in `error` with this reason."""


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
        inst.initial_password = password
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


def step_finish_terminate(inst: Instance) -> StepOutcome:
    released = claim_release(instance=inst)
    inst.state = InstanceState.TERMINATED
    inst.task = TaskState.NONE
    inst.terminated_at = timezone.now()
    inst.initial_password = ""
    event_record(action="instance.terminated", instance=inst,
                 message="Terminated" + (f"; capacity released on {inst.host.name}" if released else ""))
    return StepOutcome(None)


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


# --------------------------------------------------------------------------- engine
def countdown_for(delay_s: float) -> float:
    return min(max(0.0, delay_s) * settings.SKYPORT_SIM_SPEED, settings.SKYPORT_MAX_COUNTDOWN_S)


def step_schedule(inst: Instance, step: str | None, delay_s: float = 0.0) -> None:
    """Set the next step on `inst` (caller saves) and enqueue it when the transaction commits."""
    countdown = step_prepare(inst, step, delay_s)
    if step:
        step_dispatch(inst, countdown)


def step_prepare(inst: Instance, step: str | None, delay_s: float = 0.0) -> float:
    """Only set the next step's fields (no message yet); returns the countdown for `step_dispatch`.

    Lets a request write the first step with the instance's INSERT and dispatch it only once the
    instance is placed.
    """
    inst.step = step or ""
    inst.step_seq += 1
    inst.step_attempts = 0
    if not step:
        inst.step_due_at = None
        return 0.0
    countdown = countdown_for(delay_s)
    inst.step_due_at = timezone.now() + timedelta(seconds=countdown + STEP_GRACE_S)
    return countdown


def step_dispatch(inst: Instance, countdown: float = 0.0) -> None:
    """Enqueue the step set on `inst` when the transaction commits (never if it rolls back)."""
    pk, seq = inst.pk, inst.step_seq
    transaction.on_commit(lambda: step_enqueue(instance_id=pk, seq=seq, countdown=countdown))


# Publishing happens after the commit, so the request has already succeeded: a broker that does not
# answer must not turn it into an error (or hang the page). Try briefly, log, and let the reconciler
# re-send the step once it is overdue.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def step_enqueue(*, instance_id: int, seq: int, countdown: float = 0.0) -> bool:
    """Publish one step; False (logged) when the broker is unreachable."""
    from ..tasks import advance  # tasks import this module

    try:
        advance.apply_async((instance_id, seq), countdown=countdown, retry=True, retry_policy=PUBLISH_RETRY)
    except Exception as exc:  # kombu/redis connection errors vary by transport
        log.warning("could not publish step %s of instance %s (%s); the reconciler will re-send it",
                    seq, instance_id, exc)
        return False
    return True


def instance_fail(inst: Instance, reason: str) -> None:
    """End in `error` with a reason, give the capacity back (caller holds the row and saves)."""
    claim_release(instance=inst)
    inst.state = InstanceState.ERROR
    inst.task = TaskState.NONE
    inst.state_reason = reason
    inst.initial_password = ""
    step_schedule(inst, None)
    event_record(action="instance.error", instance=inst, message=reason, level="error")


def pipeline_advance(*, instance_id: int, seq: int) -> str:
    """Run the step that message `seq` was sent for, exactly once. Returns what happened."""
    with transaction.atomic():
        inst = (
            Instance.objects.select_for_update(of=("self",))
            .select_related("host", "appliance", "instance_type", "key_pair", "owner")
            .filter(pk=instance_id)
            .first()
        )
        if inst is None:
            return "gone"
        if inst.step_seq != seq or not inst.step:
            return "stale"
        step = STEPS.get(inst.step)
        try:
            if step is None:
                raise StepFailed(f"unknown pipeline step '{inst.step}'")
            outcome = step(inst)
        except StepFailed as exc:
            instance_fail(inst, str(exc))
            inst.save()
            return "failed"
        step_schedule(inst, outcome.next_step, outcome.delay_s)
        inst.save()
        return "done"
