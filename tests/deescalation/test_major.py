"""Major incidents: acknowledgement timer, stakeholders, linked incidents, the review."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from incidents.models import Escalation, Stakeholder, StakeholderNotice
from incidents.selectors_deescalation import major_incident_criteria
from incidents.services.deescalation import (
    ActivityDraft,
    activity_complete,
    deescalation_confirm,
    plan_approve,
    plan_draft,
    plan_submit,
    status_update_post,
)
from incidents.services.errors import ActionRefused
from incidents.services.escalations import escalation_classify_major
from incidents.services.incidents import incident_report
from incidents.services.major_incidents import (
    FollowUpDraft,
    incident_impact_record,
    major_link_incident,
    post_incident_review_submit,
    stakeholder_notices_sweep,
)
from incidents.services.operations import (
    major_acknowledge,
    major_escalate_further,
    major_hand_over,
)
from incidents.services.reminders import reminders_run

from .conftest import T0, told

S = Escalation.State


@pytest.fixture
def major(initiator, support_user, service):
    with time_machine.travel(T0, tick=False):
        incident = incident_report(
            initiator=initiator, title="Payroll down", description="Nobody can log in",
            service=service, impact=1, urgency=1,
        )  # fmt: skip
        return escalation_classify_major(
            incident=incident, actor=support_user, reason="Whole company affected"
        )


def _other_report(user, service, title="Cannot see my payslip"):
    return incident_report(
        initiator=user, title=title, description="Error 500", service=service,
        impact=2, urgency=2,
    )  # fmt: skip


def test_acknowledgement_timeout_realerts_exactly_once_per_timeout(
    major, operations_user, manager_user, initiator
):
    def run_twice(minutes):
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            return reminders_run().acknowledgements_overdue, reminders_run()

    assert run_twice(14)[0] == 0
    first, second = run_twice(16)
    assert (first, second.acknowledgements_overdue) == (1, 0)
    (alert,) = told(operations_user, "major_not_acknowledged")
    assert "15 minutes" in alert.body
    assert len(told(manager_user, "major_not_acknowledged")) == 1
    assert told(initiator, "major_not_acknowledged") == []

    assert run_twice(29)[0] == 0
    assert run_twice(31)[0] == 1
    assert len(told(operations_user, "major_not_acknowledged")) == 2

    with time_machine.travel(T0 + timedelta(minutes=32), tick=False):
        major_acknowledge(escalation=major, actor=operations_user)
    assert run_twice(46)[0] == 0
    assert len(told(manager_user, "major_not_acknowledged")) == 2


def test_linked_initiators_receive_the_major_incidents_public_updates(
    major, operations_user, manager_user, initiator, other_initiator, service
):
    theirs = _other_report(other_initiator, service)
    major_acknowledge(escalation=major, actor=operations_user)
    major_link_incident(escalation=major, actor=operations_user, incident=theirs)
    assert told(other_initiator, "incident_linked_to_major")

    status_update_post(
        incident=major.incident, actor=operations_user, message="Login servers restarting"
    )

    (update,) = told(other_initiator, "status_update")
    assert update.incident == theirs
    assert "Login servers restarting" in update.body
    assert len(told(initiator, "status_update")) == 1
    own_page = theirs.timeline.filter(public=True, kind="status_update")
    (entry,) = own_page
    assert major.incident.number in entry.note and "Login servers restarting" in entry.note


def test_linking_twice_or_to_itself_is_refused(major, operations_user, other_initiator, service):
    theirs = _other_report(other_initiator, service)
    major_link_incident(escalation=major, actor=operations_user, incident=theirs)
    with pytest.raises(ActionRefused, match="already linked"):
        major_link_incident(escalation=major, actor=operations_user, incident=theirs)
    with pytest.raises(ActionRefused, match="itself"):
        major_link_incident(escalation=major, actor=operations_user, incident=major.incident)


def test_another_active_major_incident_is_not_linked_under_this_one(
    major, operations_user, support_user, other_initiator, service
):
    theirs = _other_report(other_initiator, service)
    escalation_classify_major(incident=theirs, actor=support_user, reason="Second outage")
    with pytest.raises(ActionRefused, match="is a major incident itself"):
        major_link_incident(escalation=major, actor=operations_user, incident=theirs)
    assert not major.linked_incidents.exists()


def test_criteria_show_priority_impact_and_linked_incidents(
    settings, major, support_user, operations_user, other_initiator, service
):
    settings.PORTAL = {**settings.PORTAL, "MAJOR_LINKED_INCIDENTS": 2}
    before = major_incident_criteria(major.incident)
    assert [c.met for c in before.criteria] == [True, False, False, False]

    incident_impact_record(
        incident=major.incident, actor=support_user, users_affected=800, services_affected=1
    )
    for title in ("Payslip missing", "Cannot log in to payroll"):
        theirs = _other_report(other_initiator, service, title=title)
        major_link_incident(escalation=major, actor=operations_user, incident=theirs)

    after = major_incident_criteria(major.incident)
    assert (after.users_affected, after.services_affected, after.linked_incidents) == (800, 1, 2)
    assert [c.met for c in after.criteria] == [True, True, False, True]
    assert after.suggests_major


def test_escalating_further_emails_the_configured_stakeholders(
    major, operations_user, manager_user
):
    Stakeholder.objects.create(name="Hanna Head", email="head@example.com", role="Head of IT")
    Stakeholder.objects.create(name="Old Boss", email="old@example.com", role="CIO", active=False)
    major_acknowledge(escalation=major, actor=operations_user)

    case = major_escalate_further(
        escalation=major, actor=operations_user, note="Payroll run at risk"
    )
    assert case.level == 2
    (notice,) = StakeholderNotice.objects.all()
    assert notice.email == "head@example.com"
    assert told(manager_user, "major_escalated_further")

    # No worker in unit tests: the monitor's sweep delivers what is pending, once.
    assert stakeholder_notices_sweep() == 1
    assert stakeholder_notices_sweep() == 0
    (message,) = mail.outbox
    assert message.to == ["head@example.com"]
    assert "Payroll run at risk" in message.body


def test_escalating_further_still_takes_a_written_list(major, operations_user):
    major_acknowledge(escalation=major, actor=operations_user)
    major_escalate_further(
        escalation=major, actor=operations_user, stakeholders="CFO by phone", note="Told"
    )
    assert StakeholderNotice.objects.count() == 0
    assert major.operations_log.filter(stakeholders="CFO by phone").exists()


def test_a_major_incident_closes_only_with_a_post_incident_review(
    major, operations_user, manager_user, second_manager, support_user, initiator
):
    major_acknowledge(escalation=major, actor=operations_user)
    case = major_hand_over(escalation=major, actor=operations_user, note="Stable on standby")
    plan_draft(
        escalation=case, actor=manager_user, summary="Move back to the primary",
        activities=[ActivityDraft("Move back", support_user, timezone.now())],
    )  # fmt: skip
    plan_submit(escalation=case, actor=manager_user)
    case = plan_approve(escalation=case, actor=second_manager)
    activity_complete(activity=case.plan.activities.get(), actor=support_user, note="Moved")

    with pytest.raises(ActionRefused, match="post-incident review"):
        deescalation_confirm(escalation=case, actor=manager_user, note="Over")

    with pytest.raises(ActionRefused, match="follow-up action"):
        post_incident_review_submit(
            escalation=case, actor=operations_user, summary="Payroll down 2 h",
            cause="Expired certificate", follow_ups=[],
        )  # fmt: skip
    review = post_incident_review_submit(
        escalation=case, actor=operations_user, summary="Payroll down 2 h",
        cause="Expired certificate",
        follow_ups=[FollowUpDraft("Monitor certificate expiry", support_user)],
    )  # fmt: skip
    assert review.follow_ups.get().owner == support_user
    assert told(manager_user, "review_submitted")

    case = deescalation_confirm(escalation=case, actor=manager_user, note="Over")
    assert case.state == S.DEESCALATED
    assert told(initiator, "deescalated")
