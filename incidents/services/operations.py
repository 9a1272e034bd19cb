"""IT operations on a major incident: acknowledge, escalate further, act, hand over."""

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from incidents.models import Escalation, OperationsLog, Stakeholder, TimelineEntry
from notifications.events import Event
from notifications.services import notification_queue

from .errors import ActionRefused
from .escalations import escalation_transition
from .guard import require_text
from .major_incidents import stakeholder_notices_queue

Log = OperationsLog.Kind


def _log(
    case: Escalation, actor: Any, kind: str, note: str, stakeholders: str = ""
) -> OperationsLog:
    return OperationsLog.objects.create(
        escalation=case, kind=kind, note=note, stakeholders=stakeholders, actor=actor
    )


@transaction.atomic
def major_acknowledge(
    *, escalation: Escalation, actor: Any, note: str = "", seen_state: str | None = None
) -> Escalation:
    """IT operations take the major incident over; the acknowledgement clock stops."""
    case, _ = escalation_transition(
        escalation=escalation, actor=actor, action="acknowledge", seen_state=seen_state,
        note=note or "IT operations acknowledged the major incident.",
        args={"by": actor}, kind=TimelineEntry.Kind.OPERATIONS,
    )  # fmt: skip
    _log(case, actor, Log.ACKNOWLEDGED, note)
    return case


@transaction.atomic
def major_escalate_further(
    *,
    escalation: Escalation,
    actor: Any,
    note: str,
    stakeholders: str | Sequence[Stakeholder] | None = None,
    seen_state: str | None = None,
) -> Escalation:
    """Escalate to management and stakeholders; the case's level goes up by one.

    `stakeholders` is the configured list to e-mail (None: every active stakeholder), or a
    text naming whom IT operations told themselves (recorded, nobody is e-mailed)."""
    note = require_text(note, what="what they were told")
    if stakeholders is None:
        stakeholders = list(Stakeholder.objects.filter(active=True))
    if isinstance(stakeholders, str):
        to_email: list[Stakeholder] = []
        names = require_text(stakeholders, what="who was escalated to")
    else:
        to_email = list(stakeholders)
        if not to_email:
            raise ActionRefused(
                "Choose at least one stakeholder (administrators keep the list in the admin)."
            )
        names = ", ".join(str(s) for s in to_email)
    case, entry = escalation_transition(
        escalation=escalation, actor=actor, action="escalate_further", seen_state=seen_state,
        note=f"Escalated to {names}: {note}", kind=TimelineEntry.Kind.OPERATIONS,
    )  # fmt: skip
    log = _log(case, actor, Log.ESCALATED_FURTHER, note, names)
    if to_email:
        stakeholder_notices_queue(log=log, stakeholders=to_email)
    notification_queue(
        event=Event.MAJOR_ESCALATED_FURTHER, incident=case.incident, escalation=case,
        cause=entry, actor=actor,
    )  # fmt: skip
    return case


@transaction.atomic
def major_log_action(
    *, escalation: Escalation, actor: Any, note: str, seen_state: str | None = None
) -> Escalation:
    note = require_text(note, what="the action taken")
    case, _ = escalation_transition(
        escalation=escalation, actor=actor, action="log_action", seen_state=seen_state,
        note=note, kind=TimelineEntry.Kind.OPERATIONS,
    )  # fmt: skip
    _log(case, actor, Log.ACTION, note)
    return case


@transaction.atomic
def major_hand_over(
    *, escalation: Escalation, actor: Any, note: str, seen_state: str | None = None
) -> Escalation:
    """The immediate danger is over: incident managers plan the deescalation."""
    note = require_text(note, what="the state you hand over in")
    case, entry = escalation_transition(
        escalation=escalation, actor=actor, action="hand_over", seen_state=seen_state,
        note=note, kind=TimelineEntry.Kind.OPERATIONS,
    )  # fmt: skip
    _log(case, actor, Log.HANDED_OVER, note)
    notification_queue(
        event=Event.MAJOR_HANDED_OVER, incident=case.incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    return case
