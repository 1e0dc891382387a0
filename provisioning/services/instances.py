"""Instance actions and login details: the rules every surface (web, REST, EC2) shares.

Launching lives in `launch.py` (`instance_launch`); this module acts on instances that exist.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..choices import InstanceState, TaskState
from ..exceptions import NotFound
from ..lifecycle import TRANSITIONS, Transition, transition_check
from ..models import Instance
from ..pipeline.engine import step_schedule
from ..pipeline.instance_steps import TERMINATED_FIELDS, step_finish_terminate
from .events import actor_name, event_record
from .keypairs import pem_filename
from .passwords import password_unseal

_NO_TRANSITION = Transition("", frozenset(), "", "", "")
# What an action changes on the instance row (the transition and the step it schedules).
ACTION_FIELDS = ["state", "task", "state_reason", "step", "step_seq", "step_due_at", "step_attempts", "updated_at"]


# --------------------------------------------------------------------------- actions
def instance_action(*, user, instance: Instance, action: str, actor: str | None = None,
                    idempotent: bool = False) -> Instance:
    """stop / start / reboot / terminate: check the lifecycle, record, dispatch the pipeline.

    `idempotent` (EC2's semantics): an action already done or under way (stop of a stopped instance,
    terminate of a terminated one) is no error and changes nothing. The returned instance carries
    `previous_state`, its state when the lock was taken.
    """
    with transaction.atomic():
        inst = Instance.objects.select_for_update(of=("self",)).select_related("host", "appliance").get(pk=instance.pk)
        if inst.owner_id != user.pk and not user.is_staff:
            raise NotFound(f"Instance {instance.public_id} does not exist.")
        inst.previous_state = inst.state
        if idempotent and inst.state in TRANSITIONS.get(action, _NO_TRANSITION).done_states:
            return inst
        t = transition_check(inst, action)
        if inst.owner_id == user.pk:
            inst.owner = user  # the events' owner, without reading the user again
        event_record(action=f"instance.{action}", instance=inst, actor=actor or actor_name(user),
                     message=f"{action.capitalize()} requested")
        if action == "terminate" and launch_unbooted(inst):
            # No guest runs yet, so there is nothing to shut down: it ends here, its claim released in this
            # transaction, and the launch's queued step finds itself stale.
            step_finish_terminate(inst)
            step_schedule(inst, None)
            inst.save(update_fields=ACTION_FIELDS + TERMINATED_FIELDS)
            return inst
        inst.state = t.to_state
        inst.task = t.task
        inst.state_reason = ""
        step_schedule(inst, t.step)
        inst.save(update_fields=ACTION_FIELDS)  # not the console log or boot plan the worker writes
    return inst


def launch_unbooted(inst: Instance) -> bool:
    """A launch that has not begun to boot: still being scheduled, or its image being copied (a copy under
    way is abandoned with it). The caller holds the row, so no step moves it on meanwhile."""
    return (inst.state == InstanceState.PENDING and inst.launched_at is None
            and inst.task in (TaskState.SCHEDULING, TaskState.COPYING_IMAGE))


def instances_action(*, user, instances: Iterable[Instance], action: str, actor: str | None = None,
                     idempotent: bool = False) -> list[Instance]:
    """`instance_action` on several instances, all or none (EC2's StopInstances with many ids)."""
    instances = list(instances)
    if len(instances) == 1:  # its own transaction is all or none already (no savepoint inside another)
        return [instance_action(user=user, instance=instances[0], action=action, actor=actor, idempotent=idempotent)]
    with transaction.atomic():
        return [instance_action(user=user, instance=inst, action=action, actor=actor, idempotent=idempotent)
                for inst in instances]


def instance_login_hint(instance: Instance) -> dict:
    """How to log in, without any secret (only `instance_credentials` ever returns the password).

    The one connect-string builder: the web page, the REST API and EC2 all show `connect` as is
    (None until the instance has an address).
    """
    ip = instance.private_ip
    if not ip:
        connect = None
    elif instance.appliance.os_family == "windows":
        connect = f"Remote Desktop (RDP) to {ip}:3389 as {instance.login_user}"
    elif instance.key_name:
        connect = f"ssh -i {pem_filename(instance.key_name)} {instance.login_user}@{ip}"
    else:
        connect = f"ssh {instance.login_user}@{ip}"
    available = (bool(instance.initial_password) and instance.credentials_shown_at is None
                 and instance.state == InstanceState.RUNNING)
    return {"username": instance.login_user, "connect": connect, "key_name": instance.key_name or None,
            "password_available": available, "password_encrypted": bool(instance.password_data)}


def instance_credentials(*, user, instance: Instance) -> dict:
    """Login details. A generated password is returned exactly once, then forgotten."""
    with transaction.atomic():
        inst = Instance.objects.select_for_update(of=("self",)).select_related("appliance").get(pk=instance.pk)
        if inst.owner_id != user.pk:
            raise NotFound(f"Instance {instance.public_id} does not exist.")
        hint = instance_login_hint(inst)
        out = {
            "username": hint["username"],
            "host": inst.private_ip,
            "key_name": hint["key_name"],
            "connect": hint["connect"],
            "password": None,
            "password_already_shown": inst.credentials_shown_at is not None,
            # Encrypted to the instance's RSA key pair: only its private key reads it (repeatable).
            "password_data": inst.password_data or None,
        }
        if inst.state == InstanceState.RUNNING and inst.initial_password and inst.credentials_shown_at is None:
            out["password"] = password_unseal(inst)
            inst.initial_password = ""
            inst.credentials_shown_at = timezone.now()
            inst.save(update_fields=["initial_password", "credentials_shown_at", "updated_at"])
            event_record(action="instance.credentials", instance=inst, actor=actor_name(user),
                         message="Login password shown (once)")
        return out
