"""Each service tells exactly the right people, through the right channels, or nobody."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.models import Escalation, Incident
from incidents.services.deescalation import (
    ActivityDraft,
    activity_add,
    deescalation_confirm,
    plan_approve,
    plan_draft,
    plan_return,
    plan_submit,
    status_update_post,
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
from incidents.services.incidents import incident_report, incident_resolve
from incidents.services.operations import (
    major_acknowledge,
    major_escalate_further,
    major_hand_over,
)
from notifications.events import CATALOGUE, Event
from notifications.models import Notification
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(support_user, manager_user, second_manager, operations_user):
    return {"support": support_user, "managers": [manager_user, second_manager],
            "operations": operations_user}  # fmt: skip


@pytest.fixture
def open_incident(initiator, service):
    return IncidentFactory(initiator=initiator, service=service, status=Incident.Status.IN_PROGRESS)


def told(after: int = 0) -> set[tuple[str, str, str]]:
    """(event, username, channel) of every notification written after row `after`."""
    return set(
        Notification.objects.filter(pk__gt=after).values_list(
            "event", "recipient__username", "channel"
        )
    )


def both(event: str, *usernames: str) -> set[tuple[str, str, str]]:
    return {(event, u, c) for u in usernames for c in ("in_app", "email")}


def last_pk() -> int:
    return Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_reporting_sends_the_initiator_a_receipt(initiator, service):
    incident_report(initiator=initiator, title="VPN down", description="No VPN",
                    service=service, impact=2, urgency=2)  # fmt: skip
    assert told() == both("incident_reported", "ivy")


def test_a_request_sends_a_receipt_and_alerts_first_level_support(staff, open_incident):
    mark = last_pk()
    escalation_request(incident=open_incident, actor=open_incident.initiator, reason="Slow")
    assert told(mark) == both("escalation_requested", "ivy", "sam")


def test_an_imminent_escalation_alerts_first_level_support_only(staff, open_incident):
    mark = last_pk()
    escalation_flag_imminent(incident=open_incident, actor=None, reason="75 % of SLA used")
    assert told(mark) == both("escalation_imminent", "sam")


@pytest.mark.parametrize(
    ("decide", "event"),
    [(escalation_reject, "escalation_rejected"), (escalation_avoid, "escalation_avoided")],
)
def test_a_decision_tells_the_initiator_why(staff, open_incident, decide, event):
    case = escalation_request(incident=open_incident, actor=open_incident.initiator, reason="x")
    mark = last_pk()
    decide(escalation=case, actor=staff["support"], reason="Within SLA targets")
    assert told(mark) == both(event, "ivy")
    note = Notification.objects.get(pk__gt=mark, channel="email")
    assert "Within SLA targets" in note.body
    assert open_incident.number in note.subject
    assert f"/my/incidents/{open_incident.number}/" in note.body


def test_escalating_tells_the_initiator_and_the_incident_managers(staff, open_incident):
    case = escalation_request(incident=open_incident, actor=open_incident.initiator, reason="x")
    mark = last_pk()
    escalation_escalate(escalation=case, actor=staff["support"], reason="P2 near breach")
    assert told(mark) == both("escalation_escalated", "ivy", "mia", "max")
    to_manager = Notification.objects.get(pk__gt=mark, channel="email", recipient__username="mia")
    assert f"/incidents/{open_incident.number}/" in to_manager.body
    assert "/my/incidents/" not in to_manager.body


def test_major_tells_the_initiator_operations_and_managers(staff, open_incident):
    mark = last_pk()
    escalation_classify_major(incident=open_incident, actor=staff["support"], reason="All down")
    assert told(mark) == both("incident_classified_major", "ivy") | both(
        "major_incident", "otto", "mia", "max"
    )


def test_major_operations_steps(staff, open_incident):
    case = escalation_classify_major(incident=open_incident, actor=staff["support"], reason="x")
    ops = staff["operations"]
    mark = last_pk()
    case = major_acknowledge(escalation=case, actor=ops)
    assert told(mark) == set()
    mark = last_pk()
    case = major_escalate_further(escalation=case, actor=ops, stakeholders="CIO", note="Told")
    assert told(mark) == both("major_escalated_further", "mia", "max")
    mark = last_pk()
    major_hand_over(escalation=case, actor=ops, note="Stable")
    assert told(mark) == both("major_handed_over", "mia", "max")


@pytest.fixture
def escalated(staff, open_incident):
    case = escalation_request(incident=open_incident, actor=open_incident.initiator, reason="x")
    return escalation_escalate(escalation=case, actor=staff["support"], reason="Entitled")


def _draft(case, author, owners):
    due = timezone.now() + timedelta(hours=2)
    activities = [ActivityDraft(f"Step {i}", o, due) for i, o in enumerate(owners)]
    plan_draft(escalation=case, actor=author, summary="Fail over to the standby",
               activities=activities)  # fmt: skip


def test_the_deescalation_plan_steps(staff, escalated):
    mia, max_ = staff["managers"]
    sam = staff["support"]
    _draft(escalated, mia, [sam, sam, staff["operations"]])
    mark = last_pk()
    plan_submit(escalation=escalated, actor=mia)
    assert told(mark) == both("plan_submitted", "max")

    mark = last_pk()
    plan_return(escalation=escalated, actor=max_, comment="Add a rollback step")
    assert told(mark) == both("plan_returned", "mia")

    plan_submit(escalation=escalated, actor=mia)
    mark = last_pk()
    case = plan_approve(escalation=escalated, actor=max_)
    assert told(mark) == both("plan_approved", "ivy") | both("activity_assigned", "sam", "otto")
    # Sam owns two activities: one notice that names both.
    (assigned,) = Notification.objects.filter(
        pk__gt=mark, event="activity_assigned", recipient=sam, channel="email"
    )
    assert "Step 0" in assigned.body and "Step 1" in assigned.body
    approved = Notification.objects.get(pk__gt=mark, event="plan_approved", channel="email")
    assert "Fail over to the standby" in approved.body

    mark = last_pk()
    later = timezone.now() + timedelta(hours=3)
    activity_add(escalation=case, actor=mia, activity=ActivityDraft("Verify", sam, later))
    assert told(mark) == both("activity_assigned", "sam") | both("plan_changed", "ivy")

    mark = last_pk()
    status_update_post(incident=case.incident, actor=mia, message="Standby is up, 50 % done")
    assert told(mark) == both("status_update", "ivy")

    for activity in case.plan.activities.all():
        from incidents.services.deescalation import activity_complete

        activity_complete(activity=activity, actor=mia, note="done")
    mark = last_pk()
    deescalation_confirm(escalation=case, actor=mia, note="Mail flows again")
    assert told(mark) == both("deescalated", "ivy")


def test_resolving_tells_the_initiator_and_avoids_a_pending_request(staff, open_incident):
    escalation_request(incident=open_incident, actor=open_incident.initiator, reason="x")
    mark = last_pk()
    incident_resolve(incident=open_incident, actor=staff["support"], note="Restarted the server")
    assert told(mark) == both("incident_resolved", "ivy") | both("escalation_avoided", "ivy")


def test_cancelling_an_escalation_tells_the_initiator(staff, escalated):
    mark = last_pk()
    escalation_cancel(escalation=escalated, actor=staff["support"], reason="Duplicate")
    assert told(mark) == both("escalation_cancelled", "ivy")


def test_a_rolled_back_change_notifies_nobody(
    staff, open_incident, django_capture_on_commit_callbacks
):
    mark = last_pk()
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        escalation_request(incident=open_incident, actor=open_incident.initiator, reason="x")
        raise RuntimeError("the request failed after the service ran")
    assert told(mark) == set()
    assert callbacks == []
    assert not Escalation.objects.filter(incident=open_incident).exists()


def test_every_event_has_its_three_templates():
    from django.template.loader import get_template

    for event in CATALOGUE:
        for name in ("subject.txt", "body.txt", "body.html"):
            get_template(f"notifications/{event}/{name}")
    assert set(CATALOGUE) == set(Event)
