from typing import Any

from incidents.models import Escalation, Incident, TimelineEntry


def timeline_record(
    *,
    incident: Incident,
    kind: str,
    actor: Any = None,
    escalation: Escalation | None = None,
    machine: str = "",
    action: str = "",
    change: tuple[str, str] | None = None,
    note: str = "",
    public: bool = False,
) -> TimelineEntry:
    """Append one entry to the incident's timeline (call inside the service's transaction)."""
    from_state, to_state = change or ("", "")
    return TimelineEntry.objects.create(
        incident=incident,
        escalation=escalation,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        machine=machine,
        action=action,
        from_state=from_state,
        to_state=to_state,
        note=note,
        public=public,
    )
