"""The event log: one writer, used by every transition and decision."""
from __future__ import annotations

from typing import Any

from ..db import row_insert, rows_insert
from ..models import Event, Host, Instance


def event_build(
    *,
    action: str,
    message: str,
    instance: Instance | None = None,
    host: Host | None = None,
    owner: Any = None,
    actor: str = "system",
    level: str = "info",
    data: dict | None = None,
) -> Event:
    """An unsaved event, for callers that write several in one INSERT (`events_record`).

    The instance's owner and host are taken by id: no row is read to log an event.
    """
    event = Event(owner=owner, instance=instance, host=host, actor=actor, action=action,
                  message=message, level=level, data=data or {})
    if owner is None and instance is not None:
        event.owner_id = instance.owner_id
    if host is None and instance is not None and instance.host_id:
        event.host_id = instance.host_id
    return event


def events_record(events: list[Event]) -> list[Event]:
    """Write built events in one statement (a request transaction logs two per instance)."""
    return rows_insert(events)


def event_record(**fields: Any) -> Event:
    """Build and save one event (same keyword arguments as `event_build`)."""
    return row_insert(event_build(**fields))


def actor_name(user: Any) -> str:
    return getattr(user, "username", None) or "system"
