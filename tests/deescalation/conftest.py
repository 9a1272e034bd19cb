from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.services.deescalation import ActivityDraft, plan_approve, plan_draft, plan_submit
from incidents.services.escalations import escalation_escalate, escalation_request
from incidents.services.incidents import incident_report, incident_start_work
from notifications.models import Notification

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def report_and_escalate(*, initiator, support_user, service, impact=1, urgency=2):
    """An incident (P2 by default) escalated through the real services."""
    incident = incident_report(
        initiator=initiator, title="Mail down", description="No mail since 9:00",
        service=service, impact=impact, urgency=urgency,
    )  # fmt: skip
    incident_start_work(incident=incident, actor=support_user)
    case = escalation_request(incident=incident, actor=initiator, reason="Still down")
    return escalation_escalate(escalation=case, actor=support_user, reason="P2 near breach")


def told(user, event) -> list[Notification]:
    """What the user saw in the portal's inbox for this event."""
    return list(Notification.objects.filter(recipient=user, event=event, channel="in_app"))


@pytest.fixture
def escalated(initiator, support_user, service):
    with time_machine.travel(T0, tick=False):
        return report_and_escalate(initiator=initiator, support_user=support_user, service=service)


@pytest.fixture
def deescalating(escalated, manager_user, second_manager, support_user):
    """An approved plan with one activity for Sam due an hour after T0."""
    with time_machine.travel(T0, tick=False):
        plan_draft(
            escalation=escalated, actor=manager_user, summary="Fail over to the standby",
            activities=[ActivityDraft("Fail over", support_user, T0 + timedelta(hours=1))],
        )  # fmt: skip
        plan_submit(escalation=escalated, actor=manager_user)
        return plan_approve(escalation=escalated, actor=second_manager)
