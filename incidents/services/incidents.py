"""Services for the incident lifecycle: the only door for changes to an incident."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from incidents.models import ACTIVE_STATES, Escalation, Impact, Incident, Service, TimelineEntry
from incidents.people import person_name
from incidents.priority import priority_for
from incidents.roles import is_staff_member, perm
from incidents.sla import sla_due_times, sla_sync
from notifications.events import Event
from notifications.services import notification_queue

from .errors import ActionRefused, IncidentChanged
from .guard import require_text, require_transition
from .timeline import timeline_record

Kind = TimelineEntry.Kind


def incident_lock(*, incident: Incident | int) -> Incident:
    """Re-read the incident under a row lock: every write to one incident queues here."""
    pk = incident.pk if isinstance(incident, Incident) else incident
    return (
        Incident.objects.select_for_update(of=("self",))
        .select_related("service", "initiator")
        .get(pk=pk)
    )


def _save(instance: Any) -> None:
    try:
        instance.save()
    except ConcurrentTransition as exc:
        raise IncidentChanged() from exc


@transaction.atomic
def incident_report(
    *,
    initiator: Any,
    title: str,
    description: str,
    service: Service,
    impact: int,
    urgency: int,
) -> Incident:
    """Report a new incident: priority from the matrix, SLA due times from its policy."""
    _require_report_choices(service=service, impact=impact, urgency=urgency)
    now = timezone.now()
    priority = priority_for(impact=impact, urgency=urgency)
    response_due, resolution_due = sla_due_times(priority=priority, start=now)
    incident = Incident.objects.create(
        title=require_text(title, what="a short title"),
        description=require_text(description, what="a description of what happened"),
        initiator=initiator,
        service=service,
        impact=impact,
        urgency=urgency,
        priority=priority,
        assignment_group=service.default_group,
        response_due=response_due,
        resolution_due=resolution_due,
        created_at=now,
        last_progress_at=now,
    )
    # Derived from the primary key, so two reports at the same instant never share one.
    incident.number = f"INC{incident.pk:07d}"
    incident.save(update_fields=["number"])
    sla_sync(incident=incident, actor=initiator, reason="Reported", at=now)
    entry = timeline_record(
        incident=incident,
        kind=Kind.REPORTED,
        actor=initiator,
        machine="incident",
        change=("", incident.status),
        note=f"Reported with priority {incident.get_priority_display()}.",
        public=True,
    )
    notification_queue(event=Event.INCIDENT_REPORTED, incident=incident, cause=entry)
    return incident


def _require_report_choices(*, service: Service | None, impact: int, urgency: int) -> None:
    # A form checks these too, but the API, the shell and imports come through here alone.
    if service is None or not Service.objects.filter(pk=service.pk).exists():
        raise ActionRefused("Please choose the service that is affected.")
    for value, what in ((impact, "impact"), (urgency, "urgency")):
        # Impact and urgency share the scale 1 (high) to 3 (low); bool is an int in Python.
        if isinstance(value, bool) or value not in Impact.values:
            raise ActionRefused(f"Please choose an {what} of 1 (high), 2 (medium) or 3 (low).")


# How each move reads on the SLA explanation (the timers follow the new status).
SLA_REASONS = {
    "start_work": "Work started: the caller had a response",
    "put_on_hold": "On hold, awaiting the caller",
    "resume": "Resumed",
    "resolve": "Resolved",
    "reopen": "Reopened",
    "close": "Closed",
    "cancel": "Cancelled",
}


def _sla_reason(action: str, note: str) -> str:
    label = SLA_REASONS.get(action, action.replace("_", " ").capitalize())
    return f"{label}: {note}" if note and action in {"put_on_hold", "resume", "reopen"} else label


def _transition(
    *,
    incident: Incident,
    actor: Any,
    action: str,
    seen_state: str | None,
    note: str = "",
    args: dict[str, Any] | None = None,
) -> tuple[Incident, TimelineEntry]:
    incident = incident_lock(incident=incident)
    method = getattr(incident, action)
    require_transition(method, actor=actor, seen_state=seen_state)
    before = incident.status
    method(**(args or {}))
    _save(incident)
    sla_sync(incident=incident, actor=actor, reason=_sla_reason(action, note))
    entry = timeline_record(
        incident=incident,
        kind=Kind.TRANSITION,
        actor=actor,
        machine="incident",
        action=action,
        change=(before, incident.status),
        note=note,
        public=True,
    )
    return incident, entry


@transaction.atomic
def incident_start_work(
    *, incident: Incident, actor: Any, seen_state: str | None = None
) -> Incident:
    incident, _ = _transition(
        incident=incident,
        actor=actor,
        action="start_work",
        seen_state=seen_state,
        args={"by": actor},
    )
    return incident


@transaction.atomic
def incident_put_on_hold(
    *, incident: Incident, actor: Any, reason: str, seen_state: str | None = None
) -> Incident:
    """Waiting for the caller: the resolution clock stops until they answer."""
    reason = require_text(reason, what="what you are waiting for from the caller")
    incident, entry = _transition(
        incident=incident, actor=actor, action="put_on_hold", seen_state=seen_state, note=reason
    )
    notification_queue(event=Event.INCIDENT_ON_HOLD, incident=incident, cause=entry, actor=actor)
    return incident


@transaction.atomic
def incident_resume(
    *, incident: Incident, actor: Any, note: str = "", seen_state: str | None = None
) -> Incident:
    incident, _ = _transition(
        incident=incident, actor=actor, action="resume", seen_state=seen_state, note=note
    )
    return incident


@transaction.atomic
def incident_resolve(
    *, incident: Incident, actor: Any, note: str, seen_state: str | None = None
) -> Incident:
    """Resolve; an escalation that was only imminent or requested is avoided by it."""
    note = require_text(note, what="how the incident was resolved")
    incident, entry = _transition(
        incident=incident,
        actor=actor,
        action="resolve",
        seen_state=seen_state,
        note=note,
        args={"note": note},
    )
    notification_queue(event=Event.INCIDENT_RESOLVED, incident=incident, cause=entry, actor=actor)
    _avoid_pending_escalation(incident=incident, note=note)
    return incident


def _avoid_pending_escalation(*, incident: Incident, note: str) -> None:
    _end_open_case(
        incident=incident,
        states=[Escalation.State.IMMINENT, Escalation.State.REQUESTED],
        action="avoid",
        reason=f"The incident was resolved before escalation: {note}",
        event=Event.ESCALATION_AVOIDED,
    )


def _end_open_case(
    *,
    incident: Incident,
    states: Any,
    action: str,
    reason: str,
    event: Event,
    actor: Any = None,
) -> None:
    """The incident's own move ends its case too (a consequence, so the system acts)."""
    case = (
        Escalation.objects.select_for_update().filter(incident=incident, state__in=states).first()
    )
    if case is None:
        return
    case.incident = incident
    before = case.state
    getattr(case, action)(reason=reason)
    _save(case)
    entry = timeline_record(
        incident=incident,
        escalation=case,
        kind=Kind.TRANSITION,
        machine="escalation",
        action=action,
        change=(before, case.state),
        note=case.decision_reason,
        public=True,
    )
    notification_queue(event=event, incident=incident, escalation=case, cause=entry, actor=actor)


@transaction.atomic
def incident_reopen(
    *, incident: Incident, actor: Any, reason: str, seen_state: str | None = None
) -> Incident:
    reason = require_text(reason, what="why the incident is not resolved")
    incident, entry = _transition(
        incident=incident, actor=actor, action="reopen", seen_state=seen_state, note=reason
    )
    notification_queue(event=Event.INCIDENT_REOPENED, incident=incident, cause=entry, actor=actor)
    return incident


@transaction.atomic
def incident_close(
    *, incident: Incident, actor: Any, note: str = "", seen_state: str | None = None
) -> Incident:
    incident, _ = _transition(
        incident=incident, actor=actor, action="close", seen_state=seen_state, note=note
    )
    return incident


@transaction.atomic
def incident_cancel(
    *, incident: Incident, actor: Any, reason: str, seen_state: str | None = None
) -> Incident:
    reason = require_text(reason, what="why the incident is cancelled")
    incident, entry = _transition(
        incident=incident, actor=actor, action="cancel", seen_state=seen_state, note=reason
    )
    notification_queue(event=Event.INCIDENT_CANCELLED, incident=incident, cause=entry, actor=actor)
    _end_open_case(
        incident=incident,
        states=ACTIVE_STATES,
        action="cancel",
        reason=f"The incident was cancelled: {reason}",
        event=Event.ESCALATION_CANCELLED,
        actor=actor,
    )
    return incident


@transaction.atomic
def incident_add_progress_note(
    *, incident: Incident, actor: Any, note: str, public: bool = False
) -> TimelineEntry:
    """Support records troubleshooting progress; it resets the incident's stale clock."""
    note = require_text(note, what="the progress note")
    incident = incident_lock(incident=incident)
    if not actor.has_perm(perm("work_incident")):
        raise PermissionDenied("Only support staff add progress notes.")
    if not incident.is_open:
        raise IncidentChanged("This incident is no longer open.")
    incident.last_progress_at = timezone.now()
    incident.save(update_fields=["last_progress_at", "updated_at"])
    return timeline_record(
        incident=incident, kind=Kind.PROGRESS, actor=actor, note=note, public=public
    )


@transaction.atomic
def incident_add_comment(*, incident: Incident, actor: Any, comment: str) -> TimelineEntry:
    """The initiator writes to support; an answer while on hold starts the clock again."""
    comment = require_text(comment, what="your message")
    incident = incident_lock(incident=incident)
    if actor.pk != incident.initiator_id and not is_staff_member(actor):
        raise PermissionDenied("Only the initiator or support staff may comment.")
    entry = timeline_record(
        incident=incident, kind=Kind.PROGRESS, actor=actor, note=comment, public=True
    )
    from_caller = actor.pk == incident.initiator_id
    resumed = from_caller and incident.status == Incident.Status.ON_HOLD
    if resumed:
        before = incident.status
        incident.resume()
        _save(incident)
        sla_sync(incident=incident, actor=actor, reason="Resumed: the caller answered")
        timeline_record(
            incident=incident,
            kind=Kind.TRANSITION,
            actor=actor,
            machine="incident",
            action="resume",
            change=(before, incident.status),
            note="The caller answered.",
            public=True,
        )
    if from_caller:
        notification_queue(
            event=Event.CALLER_REPLIED,
            incident=incident,
            cause=entry,
            actor=actor,
            extra={"resumed": resumed},
        )
    return entry


@transaction.atomic
def incident_assign(
    *, incident: Incident, actor: Any, assignee: Any = None, group: Any = None
) -> Incident:
    incident = incident_lock(incident=incident)
    if not actor.has_perm(perm("work_incident")):
        raise PermissionDenied("Only support staff assign incidents.")
    if not incident.is_open:
        raise IncidentChanged("This incident is no longer open.")
    incident.assignee = assignee
    if group is not None:
        incident.assignment_group = group
        incident.support_level = max(incident.support_level, group.level)
    incident.save(update_fields=["assignee", "assignment_group", "support_level", "updated_at"])
    who = person_name(assignee, "nobody")
    where = f" in {incident.assignment_group}" if incident.assignment_group else ""
    timeline_record(
        incident=incident, kind=Kind.ASSIGNMENT, actor=actor, note=f"Assigned to {who}{where}."
    )
    return incident


@transaction.atomic
def incident_change_priority(
    *, incident: Incident, actor: Any, impact: int, urgency: int, reason: str
) -> Incident:
    """Re-rate impact and urgency; the SLA timers take the new priority's targets from
    their start, keeping the time already spent paused."""
    reason = require_text(reason, what="why the priority changes")
    incident = incident_lock(incident=incident)
    if not actor.has_perm(perm("work_incident")):
        raise PermissionDenied("Only support staff change an incident's priority.")
    if not incident.is_open:
        raise IncidentChanged("This incident is no longer open.")
    before = incident.priority
    before_label = incident.get_priority_display()
    incident.impact, incident.urgency = impact, urgency
    incident.priority = priority_for(impact=impact, urgency=urgency)
    incident.save(update_fields=["impact", "urgency", "priority", "updated_at"])
    change = f"Priority {before_label} -> {incident.get_priority_display()}: {reason}"
    if incident.priority != before:
        sla_sync(incident=incident, actor=actor, reason=change, target_changed=change)
    timeline_record(
        incident=incident, kind=Kind.TRANSITION, actor=actor, action="change_priority",
        change=(f"P{before}", f"P{incident.priority}"), note=change, public=True,
    )  # fmt: skip
    return incident
