"""Deescalation: the plan, its approval, its activities, updates and the confirmation."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.template.defaultfilters import pluralize
from django.utils import timezone

from incidents.models import (
    DeescalationActivity,
    DeescalationPlan,
    Escalation,
    Incident,
    TimelineEntry,
)
from incidents.roles import perm
from incidents.selectors_deescalation import next_update_due
from notifications.events import Event
from notifications.services import notification_queue

from .errors import ActionRefused, IncidentChanged
from .escalations import escalation_active_for, escalation_lock, escalation_transition
from .guard import require_text, require_transition
from .incidents import incident_lock
from .major_incidents import major_fan_out
from .reminders import when
from .timeline import timeline_record

S = Escalation.State
Kind = TimelineEntry.Kind


@dataclass(frozen=True)
class ActivityDraft:
    description: str
    owner: Any
    due_at: datetime


def _check_drafts(activities: list[ActivityDraft]) -> None:
    if not activities:
        raise ActionRefused("A deescalation plan needs at least one activity.")
    for number, activity in enumerate(activities, start=1):
        require_text(activity.description, what=f"a description for activity {number}")
        if activity.owner is None or not activity.owner.has_perm(perm("work_incident")):
            raise ActionRefused(f"Activity {number} needs an owner among the support staff.")
        if activity.due_at is None:
            raise ActionRefused(f"Activity {number} needs a due time.")


def _create_activities(plan: DeescalationPlan, activities: list[ActivityDraft], start: int = 0):
    return DeescalationActivity.objects.bulk_create(
        DeescalationActivity(
            plan=plan,
            position=start + index,
            description=activity.description.strip(),
            owner=activity.owner,
            due_at=activity.due_at,
        )
        for index, activity in enumerate(activities)
    )


@transaction.atomic
def plan_draft(
    *,
    escalation: Escalation,
    actor: Any,
    summary: str,
    activities: list[ActivityDraft],
    seen_revision: int | None = None,
) -> DeescalationPlan:
    """Write (or rewrite, after a return) the plan of an escalated case.

    `seen_revision`: the plan's revision the editor showed (0: no plan yet); another
    manager's save in between makes this one refuse instead of overwriting it."""
    summary = require_text(summary, what="a summary of the plan for the initiator")
    _check_drafts(activities)
    case = escalation_lock(escalation=escalation)
    if not actor.has_perm(perm("manage_deescalation")):
        raise PermissionDenied("Only incident managers draft deescalation plans.")
    if case.state != S.ESCALATED:
        raise IncidentChanged("The plan can only be drafted while the incident is escalated.")
    current = getattr(case, "plan", None)
    if seen_revision is not None and (current.revision if current else 0) != seen_revision:
        raise IncidentChanged(
            "Someone else saved this plan while you were editing it; your changes were not "
            "saved. Their version is shown below."
        )
    plan, created = DeescalationPlan.objects.get_or_create(
        escalation=case, defaults={"author": actor, "summary": summary, "revision": 1}
    )
    if not created:
        plan.summary = summary
        plan.author = actor
        plan.revision += 1
        plan.save(update_fields=["summary", "author", "revision"])
        plan.activities.all().delete()
    _create_activities(plan, activities)
    timeline_record(
        incident=case.incident, escalation=case, kind=Kind.PLAN, actor=actor,
        note=f"Deescalation plan drafted with {len(activities)} "
        f"activit{pluralize(len(activities), 'y,ies')}.",
    )  # fmt: skip
    return plan


@transaction.atomic
def plan_reorder(*, escalation: Escalation, actor: Any, order: list[int]) -> DeescalationPlan:
    """Put the plan's activities in the given order (a list of every activity's id)."""
    case = escalation_lock(escalation=escalation)
    if not actor.has_perm(perm("manage_deescalation")):
        raise PermissionDenied("Only incident managers change deescalation plans.")
    if case.state not in (S.ESCALATED, S.DEESCALATING):
        raise IncidentChanged("The plan can be reordered while drafted or carried out.")
    plan = case.plan
    activities = {a.pk: a for a in plan.activities.select_for_update()}
    order = [int(pk) for pk in order]
    if sorted(order) != sorted(activities):
        raise IncidentChanged("The plan's activities changed while you were reordering them.")
    for position, pk in enumerate(order):
        activities[pk].position = position
    DeescalationActivity.objects.bulk_update(activities.values(), ["position"])
    DeescalationPlan.objects.filter(pk=plan.pk).update(revision=F("revision") + 1)
    timeline_record(
        incident=case.incident, escalation=case, kind=Kind.PLAN, actor=actor,
        note="Activities reordered: "
        + "; ".join(f"{n}. {activities[pk].description}" for n, pk in enumerate(order, 1)),
    )  # fmt: skip
    return plan


@transaction.atomic
def plan_submit(*, escalation: Escalation, actor: Any, seen_state: str | None = None) -> Escalation:
    case, entry = escalation_transition(
        escalation=escalation, actor=actor, action="submit_plan", seen_state=seen_state,
        note="Deescalation plan submitted for approval.", kind=Kind.PLAN,
    )  # fmt: skip
    notification_queue(
        event=Event.PLAN_SUBMITTED, incident=case.incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    return case


@transaction.atomic
def plan_return(
    *, escalation: Escalation, actor: Any, comment: str, seen_state: str | None = None
) -> Escalation:
    comment = require_text(comment, what="what should be reworked")
    case, entry = escalation_transition(
        escalation=escalation, actor=actor, action="return_plan", seen_state=seen_state,
        note=comment, args={"comment": comment}, kind=Kind.PLAN,
    )  # fmt: skip
    notification_queue(
        event=Event.PLAN_RETURNED, incident=case.incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    return case


@transaction.atomic
def plan_approve(
    *, escalation: Escalation, actor: Any, seen_state: str | None = None
) -> Escalation:
    """Approve: the work starts, the initiator hears what will be done, owners get theirs."""
    case = escalation_lock(escalation=escalation)
    plan = getattr(case, "plan", None)
    summary = plan.summary if plan else ""
    next_update = next_update_due(case.incident)
    note = summary + (f"\n\nNext update by {when(next_update)}." if next_update else "")
    case, entry = escalation_transition(
        escalation=case, actor=actor, action="approve_plan", seen_state=seen_state,
        note=note, args={"by": actor}, kind=Kind.PLAN,
    )  # fmt: skip
    notification_queue(
        event=Event.PLAN_APPROVED, incident=case.incident, escalation=case, cause=entry,
        actor=actor, extra={"plan": case.plan, "next_update_due": next_update},
    )  # fmt: skip
    # One message per owner: the step's idempotency key allows one per person and event.
    by_owner: dict[int, list[DeescalationActivity]] = {}
    for activity in case.plan.activities.select_related("owner"):
        by_owner.setdefault(activity.owner_id, []).append(activity)
    for activities in by_owner.values():
        notification_queue(
            event=Event.ACTIVITY_ASSIGNED, incident=case.incident, escalation=case,
            cause=entry, actor=actor,
            extra={"owner": activities[0].owner, "activity": activities[0],
                   "activities": activities},
        )  # fmt: skip
    return case


def _activity_lock(activity: DeescalationActivity | int) -> DeescalationActivity:
    pk = activity.pk if isinstance(activity, DeescalationActivity) else activity
    escalation_id = DeescalationActivity.objects.values_list("plan__escalation_id", flat=True).get(
        pk=pk
    )
    case = escalation_lock(escalation=escalation_id)
    locked = (
        DeescalationActivity.objects.select_for_update(of=("self",))
        .select_related("plan")
        .get(pk=pk)
    )
    locked.plan.escalation = case
    return locked


def _activity_move(
    *, activity: DeescalationActivity, actor: Any, action: str, note: str, args: dict,
    tell_initiator: str = "",
) -> DeescalationActivity:  # fmt: skip
    activity = _activity_lock(activity)
    case = activity.plan.escalation
    if case.state not in (S.DEESCALATING, S.PLAN_SUBMITTED, S.ESCALATED):
        raise IncidentChanged("This deescalation is no longer under way.")
    method = getattr(activity, action)
    require_transition(method, actor=actor)
    before = activity.status
    method(**args)
    activity.save()
    # Once the initiator was told the approved plan, dropping a step changes what they were
    # promised: the entry becomes public and they are told.
    material = bool(tell_initiator) and case.state == S.DEESCALATING
    entry = timeline_record(
        incident=case.incident, escalation=case, kind=Kind.ACTIVITY, actor=actor,
        machine="activity", action=action, change=(before, activity.status),
        note=tell_initiator if material else f"{activity.description}: {note}", public=material,
    )  # fmt: skip
    if material:
        notification_queue(
            event=Event.PLAN_CHANGED, incident=case.incident, escalation=case, cause=entry,
            actor=actor, extra={"activity": activity},
        )  # fmt: skip
    return activity


@transaction.atomic
def activity_complete(
    *, activity: DeescalationActivity, actor: Any, note: str
) -> DeescalationActivity:
    note = require_text(note, what="a short note on what was done")
    return _activity_move(
        activity=activity, actor=actor, action="complete", note=note,
        args={"by": actor, "note": note},
    )  # fmt: skip


@transaction.atomic
def activity_cancel(
    *, activity: DeescalationActivity, actor: Any, reason: str
) -> DeescalationActivity:
    reason = require_text(reason, what="why the activity is no longer needed")
    description = DeescalationActivity.objects.values_list("description", flat=True).get(
        pk=activity.pk
    )
    return _activity_move(
        activity=activity, actor=actor, action="cancel", note=reason,
        args={"by": actor, "reason": reason},
        tell_initiator=f"A step of the plan is no longer needed: {description} ({reason})",
    )  # fmt: skip


@transaction.atomic
def activity_add(
    *, escalation: Escalation, actor: Any, activity: ActivityDraft
) -> DeescalationActivity:
    """Add an activity while the plan is carried out (the plan changed: on the timeline)."""
    _check_drafts([activity])
    case = escalation_lock(escalation=escalation)
    if not actor.has_perm(perm("manage_deescalation")):
        raise PermissionDenied("Only incident managers change deescalation plans.")
    if case.state != S.DEESCALATING:
        raise IncidentChanged("Activities are added to an approved plan being carried out.")
    last = case.plan.activities.order_by("-position").values_list("position", flat=True).first()
    (created,) = _create_activities(case.plan, [activity], start=(last or 0) + 1)
    entry = timeline_record(
        incident=case.incident, escalation=case, kind=Kind.ACTIVITY, actor=actor,
        note=f"A step was added to the plan: {created.description} "
        f"(planned by {when(created.due_at)}).",
        public=True,
    )  # fmt: skip
    notification_queue(
        event=Event.ACTIVITY_ASSIGNED, incident=case.incident, escalation=case, cause=entry,
        actor=actor, extra={"owner": created.owner, "activity": created},
    )  # fmt: skip
    notification_queue(
        event=Event.PLAN_CHANGED, incident=case.incident, escalation=case, cause=entry,
        actor=actor, extra={"activity": created},
    )  # fmt: skip
    return created


@transaction.atomic
def status_update_post(*, incident: Incident, actor: Any, message: str) -> TimelineEntry:
    """A public status update to the initiator about the escalated incident."""
    message = require_text(message, what="the update for the initiator")
    incident = incident_lock(incident=incident)
    if not (actor.has_perm(perm("manage_deescalation")) or actor.has_perm(perm("operate_major"))):
        raise PermissionDenied("Only incident managers and IT operations post status updates.")
    case = escalation_active_for(incident=incident)
    if case is None or case.state in (S.IMMINENT, S.REQUESTED):
        raise IncidentChanged("Status updates go out while an incident is escalated.")
    entry = timeline_record(
        incident=incident, escalation=case, kind=Kind.STATUS_UPDATE, actor=actor, note=message,
        public=True,
    )  # fmt: skip
    incident.last_progress_at = timezone.now()
    incident.save(update_fields=["last_progress_at", "updated_at"])
    notification_queue(
        event=Event.STATUS_UPDATE, incident=incident, escalation=case, cause=entry, actor=actor
    )
    # Initiators of incidents linked to this (major) incident hear the same update.
    major_fan_out(case=case, actor=actor, note=f"Update on {incident.number}: {message}")
    return entry


@transaction.atomic
def deescalation_confirm(
    *, escalation: Escalation, actor: Any, note: str, seen_state: str | None = None
) -> Escalation:
    """Every activity is done: the escalation is over and the initiator is told."""
    note = require_text(note, what="a closing note for the initiator")
    case, entry = escalation_transition(
        escalation=escalation, actor=actor, action="confirm_deescalation", seen_state=seen_state,
        note=note, args={"note": note},
    )  # fmt: skip
    notification_queue(
        event=Event.DEESCALATED, incident=case.incident, escalation=case, cause=entry, actor=actor
    )
    major_fan_out(
        case=case, actor=actor,
        note=f"{case.incident.number} is deescalated: the escalation is over. {note}",
    )  # fmt: skip
    return case
