"""Instance lifecycle: every user action's allowed states live here, and nowhere else.

A transition moves an instance to a new public state and task, and names the pipeline step that
Celery runs next. Anything else is refused with a message that says why (HTTP 409).
"""
from __future__ import annotations

from dataclasses import dataclass

from .exceptions import InvalidState
from .models import Instance


@dataclass(frozen=True)
class Transition:
    action: str
    from_states: frozenset[str]
    to_state: str
    task: str
    step: str
    needs_idle: bool = True  # refuse while another step is under way
    verb: str = ""
    # States in which the action has already happened or is happening (EC2 answers such a repeat
    # with the current state instead of an error: stopping a stopped instance, terminating a terminated one).
    done_states: frozenset[str] = frozenset()


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("stop", frozenset({"running"}), "stopping", "powering_off", "stop_guest", verb="stopped",
                   done_states=frozenset({"stopping", "stopped"})),
        Transition("start", frozenset({"stopped"}), "pending", "powering_on", "boot", verb="started",
                   done_states=frozenset({"pending", "running"})),
        Transition("reboot", frozenset({"running"}), "running", "rebooting", "reboot_guest", verb="rebooted"),
        Transition(
            "terminate",
            frozenset({"pending", "running", "stopping", "stopped", "error"}),
            "shutting-down", "deleting", "terminate_guest", needs_idle=False, verb="terminated",
            done_states=frozenset({"shutting-down", "terminated"}),
        ),
    )
}


def transition_check(instance: Instance, action: str) -> Transition:
    """The transition for `action`, or InvalidState saying what state would allow it."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise InvalidState(f"Unknown action '{action}'. Use one of: {', '.join(sorted(TRANSITIONS))}.")
    if instance.state not in t.from_states:
        states = sorted(t.from_states)
        allowed = states[0] if len(states) == 1 else f"{', '.join(states[:-1])} or {states[-1]}"
        raise InvalidState(
            f"Instance {instance.public_id} cannot be {t.verb}: it is {instance.state}; "
            f"'{action}' needs an instance that is {allowed}."
        )
    if t.needs_idle and (instance.task or instance.step):
        raise InvalidState(
            f"Instance {instance.public_id} is busy ({instance.get_task_display() or instance.step}); "
            f"try '{action}' again when it has finished."
        )
    return t


def actions_allowed(instance: Instance) -> list[str]:
    """Actions the UI should offer right now."""
    out = []
    for action in TRANSITIONS:
        try:
            transition_check(instance, action)
        except InvalidState:
            continue
        out.append(action)
    return out
