"""Services for the escalation case: imminent, requested, the entitlement check, major."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.entitlement import entitlement_recommendation
from incidents.models import (
    ACTIVE_STATES,
    Escalation,
    EscalationProcedure,
    Incident,
    PreventionAction,
    SupportGroup,
    TimelineEntry,
)
from incidents.roles import perm
from incidents.selectors_deescalation import next_update_due
from notifications.events import Event
from notifications.services import NotificationStep, notification_queue, notification_queue_many

from .errors import ActionRefused, IncidentChanged
from .guard import require_text, require_transition
from .incidents import _save, incident_lock
from .timeline import timeline_record

S = Escalation.State
Kind = TimelineEntry.Kind
# What the initiator sees of each move of the case; the rest stays internal.
PUBLIC_STATES = {S.REQUESTED, S.REJECTED, S.AVOIDED, S.ESCALATED, S.MAJOR, S.DEESCALATING,
                 S.DEESCALATED, S.CANCELLED}  # fmt: skip
# The plan's review is internal: to the initiator a case with a submitted plan is escalated.
SEEN_BY_INITIATOR_AS = {S.PLAN_SUBMITTED: S.ESCALATED}


def _seen_by_initiator(state: str) -> str | None:
    state = SEEN_BY_INITIATOR_AS.get(state, state)
    return state if state in PUBLIC_STATES else None


def escalation_active_for(*, incident: Incident) -> Escalation | None:
    return Escalation.objects.filter(incident=incident, state__in=ACTIVE_STATES).first()


def escalation_lock(*, escalation: Escalation | int) -> Escalation:
    """Lock the incident first, then its case: one lock order everywhere, no deadlocks."""
    pk = escalation.pk if isinstance(escalation, Escalation) else escalation
    incident_id = Escalation.objects.values_list("incident_id", flat=True).get(pk=pk)
    incident = incident_lock(incident=incident_id)
    case = Escalation.objects.select_for_update().get(pk=pk)
    case.incident = incident
    return case


def _create_case(**fields: Any) -> Escalation:
    try:
        with transaction.atomic():
            return Escalation.objects.create(**fields)
    except IntegrityError as exc:  # the one-active-case constraint: someone was first
        raise IncidentChanged("This incident already has an active escalation.") from exc


def escalation_transition(
    *,
    escalation: Escalation | int,
    actor: Any,
    action: str,
    seen_state: str | None = None,
    note: str = "",
    args: dict[str, Any] | None = None,
    kind: str = Kind.TRANSITION,
) -> tuple[Escalation, TimelineEntry]:
    """Lock, check, move, save and record one transition of a case (inside a transaction)."""
    case = escalation_lock(escalation=escalation)
    method = getattr(case, action)
    require_transition(method, actor=actor, seen_state=seen_state)
    before = case.state
    method(**(args or {}))
    _save(case)
    if hasattr(case, "plan") and action in {"submit_plan", "return_plan", "approve_plan"}:
        case.plan.save()
    entry = timeline_record(
        incident=case.incident,
        escalation=case,
        kind=kind,
        actor=actor,
        machine="escalation",
        action=action,
        change=(before, case.state),
        note=note,
        # Public only when the initiator's view changes: returning a plan for rework (with
        # the reviewer's comment) is between incident managers.
        public=_seen_by_initiator(case.state) not in (None, _seen_by_initiator(before)),
    )
    return case, entry


# --- opening a case -------------------------------------------------------------


def escalation_request_blocker(*, incident: Incident, user: Any) -> str | None:
    """Why this user cannot ask for an escalation now, in words; None when they can."""
    if not incident.is_open:
        return "The incident is no longer open. Reopen it if the problem is back."
    if (
        user is not None  # None: the SLA monitor, on breach
        and user.pk != incident.initiator_id
        and not user.has_perm(perm("prevent_escalation"))
    ):
        return "Only the person who reported the incident or support staff can ask."
    case = escalation_active_for(incident=incident)
    if case is not None and case.state != S.IMMINENT:
        return f"An escalation is already under way: {case.get_state_display().lower()}."
    return None


@transaction.atomic
def escalation_request(*, incident: Incident, actor: Any, reason: str) -> Escalation:
    """Ask for an escalation; it waits in the entitlement queue of first-level support.

    `actor=None` is the SLA monitor asking on a breach."""
    reason = require_text(reason, what="a reason for the escalation")
    incident = incident_lock(incident=incident)
    blocker = escalation_request_blocker(incident=incident, user=actor)
    if blocker:
        raise ActionRefused(blocker)
    case = escalation_active_for(incident=incident)
    if case is not None:  # an imminent case becomes a request
        case, entry = escalation_transition(
            escalation=case, actor=actor, action="request", note=reason, args={"reason": reason}
        )
    else:
        source = (
            Escalation.Source.SLA_MONITOR
            if actor is None
            else Escalation.Source.INITIATOR
            if actor.pk == incident.initiator_id
            else Escalation.Source.SUPPORT
        )
        case = _create_case(
            incident=incident, state=S.REQUESTED, source=source, reason=reason, raised_by=actor,
            requested_at=timezone.now(),
        )  # fmt: skip
        entry = timeline_record(
            incident=incident, escalation=case, kind=Kind.TRANSITION, actor=actor,
            machine="escalation", action="request", change=("", case.state), note=reason,
            public=True,
        )  # fmt: skip
    notification_queue(
        event=Event.ESCALATION_REQUESTED, incident=incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    return case


@transaction.atomic
def escalation_flag_imminent(
    *, incident: Incident, actor: Any, reason: str, warning_percentage: int | None = None
) -> Escalation:
    """Open an imminent case: by first-level support's hand, or by the SLA monitor (actor=None)."""
    reason = require_text(reason, what="why an escalation is imminent")
    incident = incident_lock(incident=incident)
    if actor is not None and not actor.has_perm(perm("prevent_escalation")):
        raise PermissionDenied("Only first-level support flag imminent escalations.")
    if not incident.is_open:
        raise IncidentChanged("This incident is no longer open.")
    if escalation_active_for(incident=incident) is not None:
        raise IncidentChanged("This incident already has an active escalation.")
    case = _create_case(
        incident=incident,
        state=S.IMMINENT,
        source=Escalation.Source.SLA_MONITOR if actor is None else Escalation.Source.SUPPORT,
        reason=reason,
        raised_by=actor,
        warning_percentage=warning_percentage,
    )
    entry = timeline_record(
        incident=incident, escalation=case, kind=Kind.TRANSITION, actor=actor,
        machine="escalation", action="flag_imminent", change=("", case.state), note=reason,
    )  # fmt: skip
    notification_queue(
        event=Event.ESCALATION_IMMINENT, incident=incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    return case


def escalation_flag_imminent_many(
    *, items: list[tuple[Incident, str, int | None]]
) -> dict[int, Escalation]:
    """The SLA monitor's set-based door to `escalation_flag_imminent` (actor = the system):
    (incident, reason, warning percentage) each, in three inserts and one batch of alerts.

    Call inside a transaction holding the incidents' row locks, after checking that none
    is closed or has an active case; the one-active-case constraint still guards it.
    Returns {incident pk: case}.
    """
    if not items:
        return {}
    now = timezone.now()
    cases = Escalation.objects.bulk_create(
        Escalation(
            incident=incident, state=S.IMMINENT, source=Escalation.Source.SLA_MONITOR,
            reason=reason, warning_percentage=percentage, created_at=now,
        )
        for incident, reason, percentage in items
    )  # fmt: skip
    entries = TimelineEntry.objects.bulk_create(
        TimelineEntry(
            incident=case.incident, escalation=case, kind=Kind.TRANSITION, machine="escalation",
            action="flag_imminent", from_state="", to_state=case.state, note=case.reason,
            created_at=now,
        )
        for case in cases
    )  # fmt: skip
    notification_queue_many(
        steps=[
            NotificationStep(
                event=Event.ESCALATION_IMMINENT, incident=case.incident, escalation=case,
                cause=entry,
            )
            for case, entry in zip(cases, entries, strict=True)
        ]
    )  # fmt: skip
    return {case.incident_id: case for case in cases}


@transaction.atomic
def escalation_record_prevention(
    *, escalation: Escalation, actor: Any, kind: str, note: str, seen_state: str | None = None
) -> PreventionAction:
    """Record what support did to keep an imminent escalation from happening."""
    note = require_text(note, what="what you did to prevent the escalation")
    if kind not in PreventionAction.Kind.values:
        raise ActionRefused("Please choose what kind of prevention this was.")
    case, _ = escalation_transition(
        escalation=escalation, actor=actor, action="record_prevention", seen_state=seen_state,
        note=f"{PreventionAction.Kind(kind).label}: {note}", kind=Kind.PREVENTION,
    )  # fmt: skip
    return PreventionAction.objects.create(escalation=case, kind=kind, note=note, actor=actor)


# --- the entitlement check ------------------------------------------------------


def _procedure_for(priority: int) -> EscalationProcedure:
    return EscalationProcedure.objects.filter(priority=priority).first() or EscalationProcedure(
        priority=priority, functional=True, hierarchical=priority <= 3
    )


@transaction.atomic
def escalation_escalate(
    *, escalation: Escalation, actor: Any, reason: str, seen_state: str | None = None
) -> Escalation:
    """Escalate per the procedure for the incident's priority; the initiator hears next steps."""
    reason = require_text(reason, what="why the escalation is entitled")
    case = escalation_lock(escalation=escalation)
    incident = case.incident
    procedure = _procedure_for(incident.priority)
    kind = (
        Escalation.Kind.BOTH
        if procedure.functional and procedure.hierarchical
        else Escalation.Kind.FUNCTIONAL
        if procedure.functional
        else Escalation.Kind.HIERARCHICAL
    )
    recommendation = entitlement_recommendation(incident=incident)
    case, entry = escalation_transition(
        escalation=case, actor=actor, action="escalate", seen_state=seen_state, note=reason,
        args={"reason": reason, "kind": kind},
    )  # fmt: skip
    case.recommendation = recommendation.as_dict()
    case.decided_by = actor
    case.save(update_fields=["recommendation", "decided_by"])
    if procedure.functional:
        _raise_support_level(incident=incident, actor=actor)
    # The initiator is told when the next update comes: the cadence clock starts now.
    notification_queue(
        event=Event.ESCALATION_ESCALATED, incident=incident, escalation=case, cause=entry,
        actor=actor, extra={"next_update_due": next_update_due(incident)},
    )  # fmt: skip
    return case


def _raise_support_level(*, incident: Incident, actor: Any) -> None:
    level = min(3, incident.support_level + 1)
    group = SupportGroup.objects.filter(level=level).first()
    incident.support_level = level
    incident.assignment_group = group or incident.assignment_group
    incident.assignee = None
    incident.save(update_fields=["support_level", "assignment_group", "assignee", "updated_at"])
    timeline_record(
        incident=incident, kind=Kind.ASSIGNMENT, actor=actor,
        note=f"Functional escalation to support level {level}"
        + (f" ({group.name})." if group else "."),
    )  # fmt: skip


def _decide(
    *, escalation: Escalation, actor: Any, action: str, reason: str, event: Event,
    seen_state: str | None,
) -> Escalation:  # fmt: skip
    case = escalation_lock(escalation=escalation)
    recommendation = entitlement_recommendation(incident=case.incident)
    case, entry = escalation_transition(
        escalation=case, actor=actor, action=action, seen_state=seen_state, note=reason,
        args={"reason": reason},
    )  # fmt: skip
    case.recommendation = recommendation.as_dict()
    case.decided_by = actor
    case.save(update_fields=["recommendation", "decided_by"])
    notification_queue(
        event=event, incident=case.incident, escalation=case, cause=entry, actor=actor
    )
    return case


@transaction.atomic
def escalation_reject(
    *, escalation: Escalation, actor: Any, reason: str, seen_state: str | None = None
) -> Escalation:
    """Reject an escalation request and tell the initiator why."""
    reason = require_text(reason, what="the reason the initiator will read")
    return _decide(
        escalation=escalation, actor=actor, action="reject", reason=reason,
        event=Event.ESCALATION_REJECTED, seen_state=seen_state,
    )  # fmt: skip


@transaction.atomic
def escalation_avoid(
    *, escalation: Escalation, actor: Any, reason: str, seen_state: str | None = None
) -> Escalation:
    """Prevention worked: close the case as avoided and tell the initiator what was done."""
    reason = require_text(reason, what="what was done to avoid the escalation")
    return _decide(
        escalation=escalation, actor=actor, action="avoid", reason=reason,
        event=Event.ESCALATION_AVOIDED, seen_state=seen_state,
    )  # fmt: skip


@transaction.atomic
def escalation_classify_major(
    *, incident: Incident, actor: Any, reason: str, seen_state: str | None = None
) -> Escalation:
    """Classify the incident as major: IT operations take over, everyone is told."""
    reason = require_text(reason, what="why this is a major incident")
    incident = incident_lock(incident=incident)
    case = escalation_active_for(incident=incident)
    if case is not None:
        case, entry = escalation_transition(
            escalation=case, actor=actor, action="classify_major", seen_state=seen_state,
            note=reason, args={"reason": reason},
        )  # fmt: skip
    else:
        if not actor.has_perm(perm("classify_major")):
            raise PermissionDenied("You may not classify incidents as major.")
        if not incident.is_open:
            raise IncidentChanged("This incident is no longer open.")
        if seen_state:
            raise IncidentChanged()
        case = _create_case(
            incident=incident, state=S.MAJOR, source=Escalation.Source.MAJOR, reason=reason,
            raised_by=actor, level=1, decision_reason=reason, decided_by=actor,
        )  # fmt: skip
        case.major_at = case.escalated_at = case.decided_at = case.created_at
        case.save(update_fields=["major_at", "escalated_at", "decided_at"])
        entry = timeline_record(
            incident=incident, escalation=case, kind=Kind.TRANSITION, actor=actor,
            machine="escalation", action="classify_major", change=("", case.state),
            note=reason, public=True,
        )  # fmt: skip
    incident = case.incident
    incident.is_major = True
    incident.save(update_fields=["is_major", "updated_at"])
    notification_queue(
        event=Event.INCIDENT_CLASSIFIED_MAJOR, incident=incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    notification_queue(
        event=Event.MAJOR_INCIDENT, incident=incident, escalation=case, cause=entry, actor=actor
    )
    return case


@transaction.atomic
def escalation_cancel(
    *, escalation: Escalation, actor: Any, reason: str, seen_state: str | None = None
) -> Escalation:
    """Withdraw an active case (raised in error, duplicate); the initiator is told."""
    reason = require_text(reason, what="why the escalation is cancelled")
    case, entry = escalation_transition(
        escalation=escalation, actor=actor, action="cancel", seen_state=seen_state, note=reason,
        args={"reason": reason},
    )  # fmt: skip
    notification_queue(
        event=Event.ESCALATION_CANCELLED, incident=case.incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    return case
