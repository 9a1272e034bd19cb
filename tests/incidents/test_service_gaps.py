"""Gaps found in the service layer, each as what a person would notice.

ivy reported the incident, sam is first-level support (and starts work on it, so it is
assigned to sam), mia and max are incident managers. A message is what lands in a person's
in-app inbox; its e-mail twin carries the same subject and body.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from incidents.models import Escalation, Incident, Service
from incidents.roles import FIRST_LEVEL_SUPPORT
from incidents.selectors_deescalation import next_update_due
from incidents.services import deescalation as plans
from incidents.services import escalations, incidents
from incidents.services.errors import ActionRefused
from incidents.services.reminders import when
from notifications.models import Notification
from notifications.services import notification_queue
from tests.factories import UserFactory

from .states import escalation_in, incident_in, report

S = Escalation.State
St = Incident.Status


def inbox(user, event: str | None = None) -> list[Notification]:
    rows = Notification.objects.filter(recipient=user, channel="in_app")
    if event is not None:
        rows = rows.filter(event=event)
    return list(rows.order_by("pk"))


def events_of(user) -> set[str]:
    return {n.event for n in inbox(user)}


# --- 1. cancelling an incident -------------------------------------------------------------


def test_staff_cancelling_tells_the_initiator_why_and_where_to_look(cast):
    incident = incident_in(St.IN_PROGRESS, cast)

    incidents.incident_cancel(incident=incident, actor=cast.support, reason="It's a duplicate")

    (message,) = inbox(cast.initiator, "incident_cancelled")
    assert incident.number in message.subject
    assert "cancelled" in message.subject
    assert "It's a duplicate" in message.body  # plain text, not HTML-escaped
    assert f"/my/incidents/{incident.number}/" in message.body


def test_cancelling_with_an_active_escalation_says_the_escalation_is_withdrawn(cast):
    case = escalation_in(S.ESCALATED, cast)

    incidents.incident_cancel(incident=case.incident, actor=cast.support, reason="Reported twice")

    assert Escalation.objects.get(pk=case.pk).state == S.CANCELLED
    (withdrawn,) = inbox(cast.initiator, "escalation_cancelled")
    assert "Reported twice" in withdrawn.body
    assert withdrawn.escalation_id == case.pk
    assert len(inbox(cast.initiator, "incident_cancelled")) == 1


def test_the_initiator_cancelling_her_own_incident_is_not_told_about_it(cast):
    case = escalation_in(S.REQUESTED, cast)
    before = set(Notification.objects.values_list("pk", flat=True))

    incidents.incident_cancel(incident=case.incident, actor=cast.initiator, reason="Works now")

    new = Notification.objects.exclude(pk__in=before)
    assert not new.filter(recipient=cast.initiator).exists()
    assert Escalation.objects.get(pk=case.pk).state == S.CANCELLED


# --- 2. reopen, on hold, the caller's reply ------------------------------------------------


def test_putting_on_hold_asks_the_initiator_for_what_support_needs(cast):
    incident = incident_in(St.IN_PROGRESS, cast)

    incidents.incident_put_on_hold(
        incident=incident, actor=cast.support, reason="Which mailbox is affected?"
    )

    (message,) = inbox(cast.initiator, "incident_on_hold")
    assert "need something from you" in message.subject
    assert "Which mailbox is affected?" in message.body
    assert f"/my/incidents/{incident.number}/" in message.body
    assert not inbox(cast.support, "incident_on_hold")  # sam asked; sam is not told


def test_reopening_tells_the_assignee_why_it_is_not_fixed(cast):
    incident = incident_in(St.RESOLVED, cast)
    assert incident.assignee == cast.support

    incidents.incident_reopen(incident=incident, actor=cast.initiator, reason="Mail bounces again")

    (message,) = inbox(cast.support, "incident_reopened")
    assert incident.number in message.subject
    assert "Mail bounces again" in message.body
    assert f"/incidents/{incident.number}/" in message.body
    assert "/my/incidents/" not in message.body
    # Only the person working it: the rest of the desk and the managers are left alone.
    assert Notification.objects.filter(event="incident_reopened").count() == 2  # in-app + mail


def test_the_callers_answer_reaches_the_assignee_and_says_the_clock_runs_again(cast):
    incident = incident_in(St.ON_HOLD, cast)

    incidents.incident_add_comment(
        incident=incident, actor=cast.initiator, comment="The sales mailbox"
    )

    assert Incident.objects.get(pk=incident.pk).status == St.IN_PROGRESS
    (message,) = inbox(cast.support, "caller_replied")
    assert "The sales mailbox" in message.body
    assert "back in progress" in message.body
    assert "back in progress" in message.subject


def test_a_comment_while_in_progress_reaches_the_assignee_without_a_resume_claim(cast):
    incident = incident_in(St.IN_PROGRESS, cast)

    incidents.incident_add_comment(incident=incident, actor=cast.initiator, comment="Any news?")

    (message,) = inbox(cast.support, "caller_replied")
    assert "Any news?" in message.body
    assert "back in progress" not in message.body


def test_staff_commenting_is_not_a_reply_from_the_caller(cast):
    incident = incident_in(St.IN_PROGRESS, cast)
    colleague = UserFactory(username="sue", roles=[FIRST_LEVEL_SUPPORT])

    incidents.incident_add_comment(incident=incident, actor=colleague, comment="On it")

    assert not Notification.objects.filter(event="caller_replied").exists()


def test_an_unassigned_incident_tells_the_members_of_its_group(cast):
    incident = report(cast)  # new: nobody started work, so nobody is assigned
    desk = incident.assignment_group
    alice, gone = UserFactory(username="alice"), UserFactory(username="gone")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    desk.members.add(alice, gone)

    incidents.incident_add_comment(incident=incident, actor=cast.initiator, comment="Urgent!")

    assert {n.recipient.username for n in inbox_all("caller_replied")} == {"alice"}


def test_with_nobody_assigned_and_an_empty_group_first_level_support_hears(cast):
    incident = report(cast)
    assert not incident.assignment_group.members.exists()

    incidents.incident_add_comment(incident=incident, actor=cast.initiator, comment="Urgent!")

    assert {n.recipient.username for n in inbox_all("caller_replied")} == {"sam"}


def test_an_incident_without_a_group_falls_back_to_first_level_support(cast):
    lonely = Service.objects.create(name="Printing")  # no default group
    incident = incidents.incident_report(
        initiator=cast.initiator, title="Printer", description="Jammed", service=lonely,
        impact=3, urgency=3,
    )  # fmt: skip

    incidents.incident_add_comment(incident=incident, actor=cast.initiator, comment="Still")

    assert {n.recipient.username for n in inbox_all("caller_replied")} == {"sam"}


def inbox_all(event: str) -> list[Notification]:
    return list(Notification.objects.filter(event=event, channel="in_app"))


# --- 3. reporting with values outside the form's choices -----------------------------------


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"impact": 0}, "Please choose an impact of 1 (high), 2 (medium) or 3 (low)."),
        ({"impact": 4}, "Please choose an impact of 1 (high), 2 (medium) or 3 (low)."),
        ({"impact": None}, "Please choose an impact of 1 (high), 2 (medium) or 3 (low)."),
        ({"impact": True}, "Please choose an impact of 1 (high), 2 (medium) or 3 (low)."),
        ({"urgency": 7}, "Please choose an urgency of 1 (high), 2 (medium) or 3 (low)."),
        ({"urgency": "2"}, "Please choose an urgency of 1 (high), 2 (medium) or 3 (low)."),
        ({"service": None}, "Please choose the service that is affected."),
        ({"service": Service(name="Never saved")}, "Please choose the service that is affected."),
    ],
    ids=["impact 0", "impact 4", "no impact", "impact True", "urgency 7", "urgency text",
         "no service", "unsaved service"],
)  # fmt: skip
def test_reporting_with_a_bad_choice_is_refused_in_words(cast, change, sentence):
    fields = {
        "initiator": cast.initiator, "title": "Mail down", "description": "Since 9:00",
        "service": cast.service, "impact": 2, "urgency": 2, **change,
    }  # fmt: skip

    with pytest.raises(ActionRefused) as refused:
        incidents.incident_report(**fields)

    assert refused.value.message == sentence
    assert not Incident.objects.exists()
    assert not Notification.objects.exists()


def test_reporting_against_a_deleted_service_is_refused(cast):
    gone = Service.objects.create(name="Fax")
    Service.objects.filter(pk=gone.pk).delete()  # deleted while the form was open

    with pytest.raises(ActionRefused) as refused:
        incidents.incident_report(
            initiator=cast.initiator, title="Fax", description="No tone", service=gone,
            impact=1, urgency=1,
        )  # fmt: skip
    assert refused.value.message == "Please choose the service that is affected."
    assert not Incident.objects.exists()


# --- 4. resuming or resolving when the pause start was never recorded ----------------------


def _on_hold_without_a_recorded_start(cast) -> Incident:
    incident = incident_in(St.ON_HOLD, cast)
    Incident.objects.filter(pk=incident.pk).update(on_hold_since=None)  # e.g. an import
    return Incident.objects.get(pk=incident.pk)


def test_resuming_without_a_recorded_pause_resumes(cast):
    incident = _on_hold_without_a_recorded_start(cast)

    incidents.incident_resume(incident=incident, actor=cast.support)

    incident.refresh_from_db()
    assert incident.status == St.IN_PROGRESS
    assert incident.paused_seconds == 0


def test_the_callers_answer_resumes_even_without_a_recorded_pause(cast):
    incident = _on_hold_without_a_recorded_start(cast)

    incidents.incident_add_comment(incident=incident, actor=cast.initiator, comment="Sales")

    assert Incident.objects.get(pk=incident.pk).status == St.IN_PROGRESS


def test_resolving_without_a_recorded_pause_resolves(cast):
    incident = _on_hold_without_a_recorded_start(cast)

    incidents.incident_resolve(incident=incident, actor=cast.support, note="Fixed")

    incident.refresh_from_db()
    assert incident.status == St.RESOLVED
    assert incident.paused_seconds == 0


@pytest.mark.parametrize("move", ["resume", "resolve"])
def test_the_transition_bodies_add_a_recorded_pause_and_nothing_without_one(cast, move):
    # The bodies alone, in memory: the SLA timers (incidents.sla) keep their own record.
    incident = incident_in(St.ON_HOLD, cast)
    args = {"note": "Fixed"} if move == "resolve" else {}
    due = incident.resolution_due

    incident.on_hold_since = None
    getattr(incident, move)(**args)
    assert (incident.paused_seconds, incident.resolution_due) == (0, due)

    incident = Incident.objects.get(pk=incident.pk)
    incident.on_hold_since = timezone.now() - timedelta(hours=1)
    getattr(incident, move)(**args)
    assert 3600 <= incident.paused_seconds < 3660
    assert timedelta(hours=1) <= incident.resolution_due - due < timedelta(minutes=61)
    assert incident.on_hold_since is None


# --- 5. escalating says what happens next and when the next update comes ------------------


def _as_written(moment) -> str:
    return date_format(timezone.localtime(moment), "j F Y, H:i")


def test_the_escalated_message_says_what_happens_next_and_when_the_next_update_comes(cast):
    case = escalation_in(S.REQUESTED, cast)

    escalations.escalation_escalate(escalation=case, actor=cast.support, reason="Near breach")

    due = next_update_due(case.incident)
    assert due is not None and due > timezone.now()
    (message,) = inbox(cast.initiator, "escalation_escalated")
    assert "Near breach" in message.body
    assert "What happens next" in message.body
    assert f"next update by {_as_written(due)}" in message.body
    assert f"/my/incidents/{case.incident.number}/" in message.body


def test_the_incident_managers_read_the_same_promise(cast):
    case = escalation_in(S.REQUESTED, cast)

    escalations.escalation_escalate(escalation=case, actor=cast.support, reason="Near breach")

    due = _as_written(next_update_due(case.incident))
    for manager in (cast.manager, cast.second_manager):
        (message,) = inbox(manager, "escalation_escalated")
        assert f"promised the next update by {due}" in message.body


def test_the_approved_plan_message_also_says_when_the_next_update_comes(cast):
    case = escalation_in(S.PLAN_SUBMITTED, cast)

    plans.plan_approve(escalation=case, actor=cast.manager)

    due = next_update_due(case.incident)
    (message,) = inbox(cast.initiator, "plan_approved")
    assert f"Next update by {when(due)}" in message.body


# --- the outbox takes new events without a migration ---------------------------------------


def test_new_events_are_stored_and_a_made_up_one_is_refused(cast):
    incident = incident_in(St.IN_PROGRESS, cast)
    incidents.incident_put_on_hold(incident=incident, actor=cast.support, reason="Which one?")
    assert Notification.objects.filter(event="incident_on_hold").count() == 2

    entry = incident.timeline.last()
    with pytest.raises((KeyError, ValueError)):
        notification_queue(event="not_an_event", incident=incident, cause=entry)
