"""Put incidents, escalation cases and activities in any state through the real services.

Tests of the state machines start from states reached the way people reach them, so a
set-up that skips a step (and leaves a field empty that a transition relies on) cannot
hide a bug. Each helper returns a fresh copy read from the database.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from incidents.models import DeescalationActivity, Escalation, Incident, Service
from incidents.services.deescalation import (
    ActivityDraft,
    activity_cancel,
    activity_complete,
    deescalation_confirm,
    plan_approve,
    plan_draft,
    plan_submit,
)
from incidents.services.escalations import (
    escalation_avoid,
    escalation_cancel,
    escalation_classify_major,
    escalation_escalate,
    escalation_flag_imminent,
    escalation_reject,
    escalation_request,
)
from incidents.services.incidents import (
    incident_cancel,
    incident_close,
    incident_put_on_hold,
    incident_report,
    incident_resolve,
    incident_start_work,
)
from incidents.services.operations import major_acknowledge

S = Escalation.State
Status = Incident.Status


@dataclass(frozen=True)
class Cast:
    """The people of the process. `support` owns the deescalation activities."""

    initiator: Any
    other_initiator: Any
    support: Any
    manager: Any
    second_manager: Any  # drafts the plans, so `manager` is never the plan's author
    operations: Any
    superuser: Any
    service: Service


def report(cast: Cast, *, impact: int = 2, urgency: int = 2, title: str = "Mail down") -> Incident:
    return incident_report(
        initiator=cast.initiator, title=title, description="No mail since 9:00.",
        service=cast.service, impact=impact, urgency=urgency,
    )  # fmt: skip


def incident_in(status: str, cast: Cast) -> Incident:
    incident = report(cast)
    if status == Status.CANCELLED:
        incident_cancel(incident=incident, actor=cast.initiator, reason="Reported twice")
    elif status != Status.NEW:
        incident_start_work(incident=incident, actor=cast.support)
        if status == Status.ON_HOLD:
            incident_put_on_hold(incident=incident, actor=cast.support, reason="Which mailbox?")
        elif status in (Status.RESOLVED, Status.CLOSED):
            incident_resolve(incident=incident, actor=cast.support, note="Relay restarted")
            if status == Status.CLOSED:
                incident_close(incident=incident, actor=cast.initiator)
    incident = Incident.objects.get(pk=incident.pk)
    assert incident.status == status
    return incident


def _draft(case: Escalation, cast: Cast, activities: int = 1) -> None:
    due = timezone.now() + timedelta(hours=2)
    plan_draft(
        escalation=case, actor=cast.second_manager, summary="Fail over to the standby server",
        activities=[ActivityDraft(f"Step {n}", cast.support, due) for n in range(activities)],
    )  # fmt: skip


def escalation_in(state: str, cast: Cast, *, for_transition: str = "") -> Escalation:
    """A case in `state` on an incident in progress, with what `for_transition` needs: from
    escalated on, a plan with one activity; an acknowledged major (unless acknowledging);
    the activity done when confirming the deescalation."""
    incident = incident_in(Status.IN_PROGRESS, cast)
    support, manager = cast.support, cast.second_manager
    if state == S.IMMINENT:
        case = escalation_flag_imminent(incident=incident, actor=support, reason="75 % used")
    elif state == S.MAJOR:
        case = escalation_classify_major(incident=incident, actor=support, reason="All mail down")
        if for_transition != "acknowledge":
            major_acknowledge(escalation=case, actor=cast.operations)
    else:
        case = escalation_request(incident=incident, actor=cast.initiator, reason="Still down")
        if state == S.REJECTED:
            escalation_reject(escalation=case, actor=support, reason="Within targets")
        elif state == S.AVOIDED:
            escalation_avoid(escalation=case, actor=support, reason="Relay restarted")
        elif state == S.CANCELLED:
            escalation_cancel(escalation=case, actor=support, reason="Raised twice")
        elif state != S.REQUESTED:
            escalation_escalate(escalation=case, actor=support, reason="P2 close to breach")
            _draft(case, cast)
            if state in (S.PLAN_SUBMITTED, S.DEESCALATING, S.DEESCALATED):
                plan_submit(escalation=case, actor=manager)
            if state in (S.DEESCALATING, S.DEESCALATED):
                plan_approve(escalation=case, actor=cast.manager)
            if state == S.DEESCALATED or (
                state == S.DEESCALATING and for_transition == "confirm_deescalation"
            ):
                for activity in DeescalationActivity.objects.filter(plan__escalation=case):
                    activity_complete(activity=activity, actor=support, note="Done")
            if state == S.DEESCALATED:
                deescalation_confirm(escalation=case, actor=manager, note="Mail flows again")
    case = Escalation.objects.select_related("incident").get(pk=case.pk)
    assert case.state == state
    return case


def activity_in(status: str, cast: Cast) -> DeescalationActivity:
    """An activity of an approved plan being carried out, owned by `cast.support`."""
    case = escalation_in(S.DEESCALATING, cast)
    activity = case.plan.activities.get()
    if status == DeescalationActivity.Status.DONE:
        activity_complete(activity=activity, actor=cast.support, note="Failed over at 13:05")
    elif status == DeescalationActivity.Status.CANCELLED:
        activity_cancel(activity=activity, actor=cast.manager, reason="Not needed any more")
    activity = DeescalationActivity.objects.select_related("plan__escalation__incident").get(
        pk=activity.pk
    )
    assert activity.status == status
    return activity
