"""Each service: its timeline rows, its outbox rows to the right people, and nothing on failure.

Users (tests/conftest.py): ivy reported the incident, sam is first-level support (and owns
the deescalation activities), mia and max are incident managers (max drafts the plans),
otto is IT operations. Every recipient gets one in-app and one e-mail row per event; the
person who acted is not told what they just did.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.models import DeescalationActivity, Escalation, Incident, TimelineEntry
from incidents.services import deescalation as plans
from incidents.services import escalations, incidents, operations
from incidents.services.errors import ActionRefused, IncidentChanged
from notifications.models import Notification

from .states import Cast, activity_in, escalation_in, incident_in, report

S = Escalation.State
St = Incident.Status
Kind = TimelineEntry.Kind
IM = {"mia", "max"}


class Case:
    def __init__(
        self,
        setup: Callable[[Cast], Any],
        act: Callable[[Any, Cast], Any],
        timeline: list[tuple[str, str, str, str, bool]],
        told: dict[str, set[str] | list[str]] | None = None,
    ) -> None:
        self.setup, self.act, self.timeline, self.told = setup, act, timeline, told or {}


def _row(kind, action="", change=("", ""), public=False):
    return (kind, action, *change, public)


def T(action, before, after, public=True, kind=Kind.TRANSITION):
    return _row(kind, action, (before, after), public)


def _incident(status):
    return lambda cast: incident_in(status, cast)


def _case(state, for_transition=""):
    return lambda cast: escalation_in(state, cast, for_transition=for_transition)


def _incident_with_case(state):
    return lambda cast: escalation_in(state, cast).incident


def _draft_two_for_sam(case, cast):
    due = timezone.now() + timedelta(hours=1)
    return plans.plan_draft(
        escalation=case, actor=cast.second_manager, summary="Fail over, then verify",
        activities=[plans.ActivityDraft("Fail over", cast.support, due),
                    plans.ActivityDraft("Verify", cast.support, due)],
    )  # fmt: skip


def _submitted_plan_with_two_activities_for_sam(cast):
    case = escalation_in(S.REQUESTED, cast)
    case = escalations.escalation_escalate(escalation=case, actor=cast.support, reason="P2")
    _draft_two_for_sam(case, cast)
    return plans.plan_submit(escalation=case, actor=cast.second_manager)


SERVICES: dict[str, Case] = {
    # --- the incident ---------------------------------------------------------------------
    "incident_report": Case(
        lambda cast: None,
        lambda _, cast: report(cast),
        [_row(Kind.REPORTED, "", ("", "new"), True)],
        {"incident_reported": {"ivy"}},  # the receipt: reporting has no actor to skip
    ),
    "incident_start_work": Case(
        _incident(St.NEW),
        lambda i, cast: incidents.incident_start_work(incident=i, actor=cast.support),
        [T("start_work", "new", "in_progress")],
    ),
    "incident_put_on_hold": Case(
        _incident(St.IN_PROGRESS),
        lambda i, cast: incidents.incident_put_on_hold(
            incident=i, actor=cast.support, reason="Which mailbox?"
        ),
        [T("put_on_hold", "in_progress", "on_hold")],
        {"incident_on_hold": {"ivy"}},
    ),
    "incident_resume": Case(
        _incident(St.ON_HOLD),
        lambda i, cast: incidents.incident_resume(incident=i, actor=cast.initiator),
        [T("resume", "on_hold", "in_progress")],
    ),
    "incident_resolve": Case(
        _incident(St.IN_PROGRESS),
        lambda i, cast: incidents.incident_resolve(incident=i, actor=cast.support, note="Fixed"),
        [T("resolve", "in_progress", "resolved")],
        {"incident_resolved": {"ivy"}},
    ),
    "incident_reopen": Case(
        _incident(St.RESOLVED),
        lambda i, cast: incidents.incident_reopen(incident=i, actor=cast.initiator, reason="No"),
        [T("reopen", "resolved", "in_progress")],
        {"incident_reopened": {"sam"}},  # sam started work on it, so it is assigned to sam
    ),
    "incident_close": Case(
        _incident(St.RESOLVED),
        lambda i, cast: incidents.incident_close(incident=i, actor=cast.initiator),
        [T("close", "resolved", "closed")],
    ),
    "incident_cancel (with an active case)": Case(
        _incident_with_case(S.REQUESTED),
        lambda i, cast: incidents.incident_cancel(incident=i, actor=cast.initiator, reason="Dup"),
        [T("cancel", "in_progress", "cancelled"), T("cancel", "requested", "cancelled")],
        # ivy cancelled it herself, so neither message goes to her.
    ),
    "incident_add_progress_note": Case(
        _incident(St.IN_PROGRESS),
        lambda i, cast: incidents.incident_add_progress_note(
            incident=i, actor=cast.support, note="Looking at the relay"
        ),
        [_row(Kind.PROGRESS)],
    ),
    "incident_add_comment (answers while on hold)": Case(
        _incident(St.ON_HOLD),
        lambda i, cast: incidents.incident_add_comment(
            incident=i, actor=cast.initiator, comment="The sales mailbox"
        ),
        [_row(Kind.PROGRESS, public=True), T("resume", "on_hold", "in_progress")],
        {"caller_replied": {"sam"}},
    ),
    "incident_assign": Case(
        _incident(St.IN_PROGRESS),
        lambda i, cast: incidents.incident_assign(
            incident=i, actor=cast.support, assignee=cast.operations
        ),
        [_row(Kind.ASSIGNMENT)],
    ),
    # --- the escalation case ----------------------------------------------------------------
    "escalation_request": Case(
        _incident(St.IN_PROGRESS),
        lambda i, cast: escalations.escalation_request(
            incident=i, actor=cast.initiator, reason="Still down"
        ),
        [T("request", "", "requested")],
        # The initiator gets a receipt for their own request; support gets the check to do.
        {"escalation_requested": {"ivy", "sam"}},
    ),
    "escalation_request (an imminent case)": Case(
        _incident_with_case(S.IMMINENT),
        lambda i, cast: escalations.escalation_request(
            incident=i, actor=cast.initiator, reason="Still down"
        ),
        [T("request", "imminent", "requested")],
        {"escalation_requested": {"ivy", "sam"}},
    ),
    "escalation_flag_imminent (by the SLA monitor)": Case(
        _incident(St.IN_PROGRESS),
        lambda i, cast: escalations.escalation_flag_imminent(
            incident=i, actor=None, reason="75 % of the target used", warning_percentage=75
        ),
        [T("flag_imminent", "", "imminent", public=False)],
        {"escalation_imminent": {"sam"}},
    ),
    "escalation_record_prevention": Case(
        _case(S.IMMINENT),
        lambda c, cast: escalations.escalation_record_prevention(
            escalation=c, actor=cast.support, kind="reassign", note="To the mail team"
        ),
        [T("record_prevention", "imminent", "imminent", False, Kind.PREVENTION)],
    ),
    "escalation_escalate": Case(
        _case(S.REQUESTED),
        lambda c, cast: escalations.escalation_escalate(
            escalation=c, actor=cast.support, reason="Close to breach"
        ),
        [T("escalate", "requested", "escalated"), _row(Kind.ASSIGNMENT)],
        {"escalation_escalated": {"ivy"} | IM},
    ),
    "escalation_reject": Case(
        _case(S.REQUESTED),
        lambda c, cast: escalations.escalation_reject(
            escalation=c, actor=cast.support, reason="Within targets"
        ),
        [T("reject", "requested", "rejected")],
        {"escalation_rejected": {"ivy"}},
    ),
    "escalation_avoid": Case(
        _case(S.IMMINENT),
        lambda c, cast: escalations.escalation_avoid(
            escalation=c, actor=cast.support, reason="Relay restarted"
        ),
        [T("avoid", "imminent", "avoided")],
        {"escalation_avoided": {"ivy"}},
    ),
    "escalation_classify_major (no case yet)": Case(
        _incident(St.IN_PROGRESS),
        lambda i, cast: escalations.escalation_classify_major(
            incident=i, actor=cast.manager, reason="All mail down"
        ),
        [T("classify_major", "", "major")],
        {"incident_classified_major": {"ivy"}, "major_incident": {"otto", "max"}},
    ),
    "escalation_classify_major (an escalated case)": Case(
        _incident_with_case(S.ESCALATED),
        lambda i, cast: escalations.escalation_classify_major(
            incident=i, actor=cast.support, reason="All mail down"
        ),
        [T("classify_major", "escalated", "major")],
        {"incident_classified_major": {"ivy"}, "major_incident": {"otto"} | IM},
    ),
    "escalation_cancel": Case(
        _case(S.ESCALATED),
        lambda c, cast: escalations.escalation_cancel(
            escalation=c, actor=cast.manager, reason="Raised twice"
        ),
        [T("cancel", "escalated", "cancelled")],
        {"escalation_cancelled": {"ivy"}},
    ),
    # --- IT operations ------------------------------------------------------------------------
    "major_acknowledge": Case(
        _case(S.MAJOR, "acknowledge"),
        lambda c, cast: operations.major_acknowledge(escalation=c, actor=cast.operations),
        [T("acknowledge", "major", "major", False, Kind.OPERATIONS)],
    ),
    "major_escalate_further": Case(
        _case(S.MAJOR),
        lambda c, cast: operations.major_escalate_further(
            escalation=c, actor=cast.operations, stakeholders="CIO", note="All mail down"
        ),
        [T("escalate_further", "major", "major", False, Kind.OPERATIONS)],
        {"major_escalated_further": IM},
    ),
    "major_log_action": Case(
        _case(S.MAJOR),
        lambda c, cast: operations.major_log_action(
            escalation=c, actor=cast.operations, note="Rerouted mail"
        ),
        [T("log_action", "major", "major", False, Kind.OPERATIONS)],
    ),
    "major_hand_over": Case(
        _case(S.MAJOR),
        lambda c, cast: operations.major_hand_over(
            escalation=c, actor=cast.operations, note="Stable on the standby"
        ),
        [T("hand_over", "major", "escalated", True, Kind.OPERATIONS)],
        {"major_handed_over": IM},
    ),
    # --- deescalation ---------------------------------------------------------------------
    "plan_draft": Case(
        lambda cast: escalations.escalation_escalate(
            escalation=escalation_in(S.REQUESTED, cast), actor=cast.support, reason="P2"
        ),
        _draft_two_for_sam,
        [_row(Kind.PLAN)],
    ),
    "plan_submit": Case(
        _case(S.ESCALATED),
        lambda c, cast: plans.plan_submit(escalation=c, actor=cast.second_manager),
        [T("submit_plan", "escalated", "plan_submitted", False, Kind.PLAN)],
        {"plan_submitted": {"mia"}},
    ),
    "plan_return": Case(
        _case(S.PLAN_SUBMITTED),
        lambda c, cast: plans.plan_return(
            escalation=c, actor=cast.manager, comment="Add a check with the users"
        ),
        [T("return_plan", "plan_submitted", "escalated", False, Kind.PLAN)],
        {"plan_returned": {"max"}},
    ),
    "plan_approve (two activities, one owner)": Case(
        _submitted_plan_with_two_activities_for_sam,
        lambda c, cast: plans.plan_approve(escalation=c, actor=cast.manager),
        [T("approve_plan", "plan_submitted", "deescalating", True, Kind.PLAN)],
        {"plan_approved": {"ivy"}, "activity_assigned": {"sam"}},  # one message per owner
    ),
    "activity_complete": Case(
        lambda cast: activity_in(DeescalationActivity.Status.OPEN, cast),
        lambda a, cast: plans.activity_complete(activity=a, actor=cast.support, note="Done"),
        [T("complete", "open", "done", False, Kind.ACTIVITY)],
    ),
    "activity_cancel": Case(
        lambda cast: activity_in(DeescalationActivity.Status.OPEN, cast),
        lambda a, cast: plans.activity_cancel(activity=a, actor=cast.manager, reason="Moot"),
        # The initiator was told the approved plan: dropping a step changes it for them.
        [T("cancel", "open", "cancelled", True, Kind.ACTIVITY)],
        {"plan_changed": {"ivy"}},
    ),
    "activity_add": Case(
        _case(S.DEESCALATING),
        lambda c, cast: plans.activity_add(
            escalation=c,
            actor=cast.manager,
            activity=plans.ActivityDraft(
                "Check the queue", cast.support, timezone.now() + timedelta(hours=1)
            ),
        ),
        [_row(Kind.ACTIVITY, public=True)],
        {"activity_assigned": {"sam"}, "plan_changed": {"ivy"}},
    ),
    "status_update_post": Case(
        _incident_with_case(S.DEESCALATING),
        lambda i, cast: plans.status_update_post(
            incident=i, actor=cast.manager, message="Failover done; next update at 15:00"
        ),
        [_row(Kind.STATUS_UPDATE, public=True)],
        {"status_update": {"ivy"}},
    ),
    "deescalation_confirm": Case(
        _case(S.DEESCALATING, "confirm_deescalation"),
        lambda c, cast: plans.deescalation_confirm(
            escalation=c, actor=cast.manager, note="Mail flows again"
        ),
        [T("confirm_deescalation", "deescalating", "deescalated")],
        {"deescalated": {"ivy"}},
    ),
    # --- resolving avoids a pending escalation -------------------------------------------------
    "incident_resolve (an imminent case)": Case(
        _incident_with_case(S.IMMINENT),
        lambda i, cast: incidents.incident_resolve(incident=i, actor=cast.support, note="Fixed"),
        [T("resolve", "in_progress", "resolved"), T("avoid", "imminent", "avoided")],
        {"incident_resolved": {"ivy"}, "escalation_avoided": {"ivy"}},
    ),
    "incident_resolve (a requested case)": Case(
        _incident_with_case(S.REQUESTED),
        lambda i, cast: incidents.incident_resolve(incident=i, actor=cast.support, note="Fixed"),
        [T("resolve", "in_progress", "resolved"), T("avoid", "requested", "avoided")],
        {"incident_resolved": {"ivy"}, "escalation_avoided": {"ivy"}},
    ),
}


def _last_pk(model) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_records_and_notifies(cast, name):
    case = SERVICES[name]
    obj = case.setup(cast)
    entries_from, notifications_from = _last_pk(TimelineEntry), _last_pk(Notification)

    case.act(obj, cast)

    entries = TimelineEntry.objects.filter(pk__gt=entries_from).order_by("pk")
    assert [
        (e.kind, e.action, e.from_state, e.to_state, e.public) for e in entries
    ] == case.timeline
    rows = Notification.objects.filter(pk__gt=notifications_from)
    told = sorted((n.event, n.recipient.username, n.channel) for n in rows)
    expected = sorted(
        (event, user, channel)
        for event, users in case.told.items()
        for user in users
        for channel in ("email", "in_app")
    )
    assert told == expected
    # Every outbox row comes from a timeline row of this step (its idempotency key says which).
    causes = {str(e.pk) for e in entries}
    assert all(n.idempotency_key.split(":")[0] in causes for n in rows)


def test_the_system_acts_as_the_portal_on_the_timeline(cast):
    incident = escalation_in(S.REQUESTED, cast).incident
    incidents.incident_resolve(incident=incident, actor=cast.support, note="Fixed")
    avoided = incident.timeline.get(action="avoid")
    assert avoided.actor is None
    assert avoided.actor_name == "Escalation Portal"
    assert avoided.note == "The incident was resolved before escalation: Fixed"
    (told,) = Notification.objects.filter(event="escalation_avoided", channel="in_app")
    assert told.recipient == cast.initiator
    assert Escalation.objects.get(incident=incident).state == S.AVOIDED


def test_resolving_leaves_an_escalated_case_to_be_deescalated(cast):
    case = escalation_in(S.ESCALATED, cast)
    incidents.incident_resolve(incident=case.incident, actor=cast.support, note="Fixed")
    assert Escalation.objects.get(pk=case.pk).state == S.ESCALATED
    assert not Notification.objects.filter(event="escalation_avoided").exists()


# --- a change that rolls back leaves nothing behind ------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    "name", ["escalation_escalate", "incident_resolve (a requested case)", "plan_approve "
             "(two activities, one owner)", "incident_report"],
)  # fmt: skip
def test_a_rolled_back_change_leaves_no_row_and_sends_nothing(
    cast, name, django_capture_on_commit_callbacks
):
    case = SERVICES[name]
    obj = case.setup(cast)
    entries, notifications = TimelineEntry.objects.count(), Notification.objects.count()
    incidents_before = Incident.objects.count()
    escalations_before = list(Escalation.objects.order_by("pk").values_list("pk", "state"))

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        case.act(obj, cast)
        raise Boom  # e.g. the view's next step failed

    assert TimelineEntry.objects.count() == entries
    assert Notification.objects.count() == notifications
    assert Incident.objects.count() == incidents_before
    assert list(Escalation.objects.order_by("pk").values_list("pk", "state")) == (
        escalations_before
    )
    assert callbacks == []  # nothing is handed to the worker either


def test_a_committed_change_hands_its_e_mails_to_the_worker(
    cast, django_capture_on_commit_callbacks
):
    case = escalation_in(S.REQUESTED, cast)
    with django_capture_on_commit_callbacks() as callbacks:
        escalations.escalation_escalate(escalation=case, actor=cast.support, reason="Breach")
    assert len(callbacks) == 1


# --- bad input changes nothing and says what is missing ------------------------------------

BAD_INPUT = {
    "report without a title": (
        lambda cast: None,
        lambda _, cast: incidents.incident_report(
            initiator=cast.initiator,
            title="  ",
            description="x",
            service=cast.service,
            impact=2,
            urgency=2,
        ),
        "Please give a short title.",
    ),
    "put on hold without saying why": (
        _incident(St.IN_PROGRESS),
        lambda i, cast: incidents.incident_put_on_hold(incident=i, actor=cast.support, reason=""),
        "Please give what you are waiting for from the caller.",
    ),
    "resolve without a note": (
        _incident_with_case(S.REQUESTED),
        lambda i, cast: incidents.incident_resolve(incident=i, actor=cast.support, note="\n "),
        "Please give how the incident was resolved.",
    ),
    "request without a reason": (
        _incident(St.IN_PROGRESS),
        lambda i, cast: escalations.escalation_request(incident=i, actor=cast.initiator, reason=""),
        "Please give a reason for the escalation.",
    ),
    "reject without a reason": (
        _case(S.REQUESTED),
        lambda c, cast: escalations.escalation_reject(escalation=c, actor=cast.support, reason=" "),
        "Please give the reason the initiator will read.",
    ),
    "escalate without a reason": (
        _case(S.REQUESTED),
        lambda c, cast: escalations.escalation_escalate(
            escalation=c, actor=cast.support, reason=None
        ),
        "Please give why the escalation is entitled.",
    ),
    "prevention of no known kind": (
        _case(S.IMMINENT),
        lambda c, cast: escalations.escalation_record_prevention(
            escalation=c, actor=cast.support, kind="prayed", note="Hoped for the best"
        ),
        "Please choose what kind of prevention this was.",
    ),
    "escalate further to nobody": (
        _case(S.MAJOR),
        lambda c, cast: operations.major_escalate_further(
            escalation=c, actor=cast.operations, stakeholders=" ", note="Down"
        ),
        "Please give who was escalated to.",
    ),
    "return a plan without a comment": (
        _case(S.PLAN_SUBMITTED),
        lambda c, cast: plans.plan_return(escalation=c, actor=cast.manager, comment=""),
        "Please give what should be reworked.",
    ),
    "an activity without a description": (
        _case(S.DEESCALATING),
        lambda c, cast: plans.activity_add(
            escalation=c,
            actor=cast.manager,
            activity=plans.ActivityDraft(" ", cast.support, timezone.now()),
        ),
        "Please give a description for activity 1.",
    ),
    "an activity owned by an initiator": (
        _case(S.DEESCALATING),
        lambda c, cast: plans.activity_add(
            escalation=c,
            actor=cast.manager,
            activity=plans.ActivityDraft("Check", cast.initiator, timezone.now()),
        ),
        "Activity 1 needs an owner among the support staff.",
    ),
    "complete an activity without a note": (
        lambda cast: activity_in(DeescalationActivity.Status.OPEN, cast),
        lambda a, cast: plans.activity_complete(activity=a, actor=cast.support, note=""),
        "Please give a short note on what was done.",
    ),
    "an empty status update": (
        _incident_with_case(S.DEESCALATING),
        lambda i, cast: plans.status_update_post(incident=i, actor=cast.manager, message=""),
        "Please give the update for the initiator.",
    ),
    "confirm without a closing note": (
        _case(S.DEESCALATING, "confirm_deescalation"),
        lambda c, cast: plans.deescalation_confirm(escalation=c, actor=cast.manager, note=""),
        "Please give a closing note for the initiator.",
    ),
}


def _snapshot() -> tuple:
    return (
        list(Incident.objects.order_by("pk").values_list("pk", "status", "support_level")),
        list(Escalation.objects.order_by("pk").values_list("pk", "state", "level")),
        list(DeescalationActivity.objects.order_by("pk").values_list("pk", "status", "note")),
        TimelineEntry.objects.count(),
        Notification.objects.count(),
    )


@pytest.mark.parametrize("name", BAD_INPUT)
def test_bad_input_changes_nothing_and_says_what_is_missing(cast, name):
    setup, act, message = BAD_INPUT[name]
    obj = setup(cast)
    before = _snapshot()
    with pytest.raises(ActionRefused) as refusal:
        act(obj, cast)
    assert refusal.value.message == message
    assert _snapshot() == before


# --- seen_state: the page was out of date --------------------------------------------------

CHANGED = "This incident changed while you were looking. Here is where it stands now."


def test_a_stale_page_gets_incident_changed(cast):
    case = escalation_in(S.REQUESTED, cast)
    escalations.escalation_reject(escalation=case, actor=cast.support, reason="Within targets")
    with pytest.raises(IncidentChanged) as refusal:
        escalations.escalation_escalate(
            escalation=case, actor=cast.support, reason="Breach", seen_state=S.REQUESTED
        )
    assert refusal.value.message == CHANGED
    assert Escalation.objects.get(pk=case.pk).state == S.REJECTED


def test_a_stale_page_is_refused_even_when_the_move_would_still_be_possible(cast):
    """Avoiding is possible from imminent and from requested, but the user decided on what
    they saw: an imminent case. Now it is a request with the initiator's reason in it."""
    case = escalation_in(S.IMMINENT, cast)
    escalations.escalation_request(incident=case.incident, actor=cast.initiator, reason="Urgent")
    with pytest.raises(IncidentChanged):
        escalations.escalation_avoid(
            escalation=case, actor=cast.support, reason="Fixed", seen_state=S.IMMINENT
        )
    assert Escalation.objects.get(pk=case.pk).state == S.REQUESTED
    # With the page reloaded, the same action goes through.
    escalations.escalation_avoid(
        escalation=case, actor=cast.support, reason="Fixed", seen_state=S.REQUESTED
    )


def test_a_stale_incident_page_gets_incident_changed(cast):
    incident = incident_in(St.IN_PROGRESS, cast)
    with pytest.raises(IncidentChanged):
        incidents.incident_put_on_hold(
            incident=incident, actor=cast.support, reason="Which mailbox?", seen_state=St.NEW
        )
    assert Incident.objects.get(pk=incident.pk).status == St.IN_PROGRESS


def test_classifying_major_from_a_page_without_a_case_that_now_has_one(cast):
    incident = incident_in(St.IN_PROGRESS, cast)
    escalations.escalation_request(incident=incident, actor=cast.initiator, reason="Down")
    # The page showed a requested case that another person escalated meanwhile.
    case = Escalation.objects.get(incident=incident)
    escalations.escalation_escalate(escalation=case, actor=cast.support, reason="Breach")
    with pytest.raises(IncidentChanged):
        escalations.escalation_classify_major(
            incident=incident, actor=cast.manager, reason="All down", seen_state=S.REQUESTED
        )
