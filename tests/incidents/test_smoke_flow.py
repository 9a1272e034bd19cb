"""The whole seed process through the services, as the people in it would see it."""

from datetime import timedelta

from django.utils import timezone

from incidents.models import Escalation, Incident
from incidents.services.deescalation import (
    ActivityDraft,
    activity_complete,
    deescalation_confirm,
    plan_approve,
    plan_draft,
    plan_submit,
)
from incidents.services.escalations import escalation_escalate, escalation_request
from incidents.services.incidents import incident_report, incident_start_work
from notifications.models import Notification


def test_report_to_deescalated_tells_the_initiator_at_every_step(
    initiator, support_user, manager_user, second_manager, service
):
    incident = incident_report(
        initiator=initiator, title="Mail down", description="No mail since 9:00",
        service=service, impact=1, urgency=2,
    )  # fmt: skip
    assert incident.number == f"INC{incident.pk:07d}"
    assert incident.priority == 2
    incident_start_work(incident=incident, actor=support_user)

    case = escalation_request(incident=incident, actor=initiator, reason="Still down at noon")
    case = escalation_escalate(escalation=case, actor=support_user, reason="P2 near breach")
    incident.refresh_from_db()
    assert incident.support_level == 2
    assert case.level == 1

    plan_draft(
        escalation=case, actor=manager_user, summary="Fail over to the standby mail server",
        activities=[ActivityDraft("Fail over", support_user, timezone.now() + timedelta(hours=1))],
    )  # fmt: skip
    plan_submit(escalation=case, actor=manager_user)
    case = plan_approve(escalation=case, actor=second_manager)
    assert case.state == Escalation.State.DEESCALATING
    activity_complete(activity=case.plan.activities.get(), actor=support_user, note="Done at 13:05")
    case = deescalation_confirm(escalation=case, actor=manager_user, note="Mail flows again")
    assert case.state == Escalation.State.DEESCALATED

    told = set(
        Notification.objects.filter(recipient=initiator, channel="in_app").values_list(
            "event", flat=True
        )
    )
    assert told >= {
        "incident_reported", "escalation_escalated", "plan_approved", "deescalated",
    }  # fmt: skip
    public = incident.timeline.filter(public=True).values_list("to_state", flat=True)
    assert "deescalated" in list(public)
    assert Incident.objects.get(pk=incident.pk).status == Incident.Status.IN_PROGRESS
