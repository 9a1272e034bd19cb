"""The seed process step by step through the real services: set-up for view and browser tests.

Each helper takes the incident as far as one step of the process, the way the people in
it would (DESIGN.md section 1), so a test starts where it has something to check.
"""

from datetime import timedelta

from django.utils import timezone

from incidents.models import Escalation, Incident
from incidents.services.deescalation import (
    ActivityDraft,
    plan_approve,
    plan_draft,
    plan_submit,
)
from incidents.services.escalations import (
    escalation_classify_major,
    escalation_escalate,
    escalation_request,
)
from incidents.services.incidents import incident_report, incident_start_work
from incidents.services.operations import major_acknowledge


def reported(*, initiator, service, title="Mail is down", support=None, impact=1, urgency=2):
    incident = incident_report(
        initiator=initiator, title=title, description="No mail since 9:00.", service=service,
        impact=impact, urgency=urgency,
    )  # fmt: skip
    if support is not None:
        incident = incident_start_work(incident=incident, actor=support)
    return incident


def requested(*, incident: Incident, initiator) -> Escalation:
    return escalation_request(incident=incident, actor=initiator, reason="Still down at noon.")


def escalated(*, incident: Incident, initiator, support) -> Escalation:
    case = requested(incident=incident, initiator=initiator)
    return escalation_escalate(escalation=case, actor=support, reason="P2 close to breach.")


def drafted(*, case: Escalation, manager, owner, activities: int = 1) -> Escalation:
    due = timezone.now() + timedelta(hours=2)
    plan_draft(
        escalation=case, actor=manager, summary="Fail over to the standby mail server.",
        activities=[ActivityDraft(f"Step {n + 1}", owner, due) for n in range(activities)],
    )  # fmt: skip
    return Escalation.objects.get(pk=case.pk)


def submitted(*, case: Escalation, manager, owner, activities: int = 1) -> Escalation:
    case = drafted(case=case, manager=manager, owner=owner, activities=activities)
    return plan_submit(escalation=case, actor=manager)


def deescalating(*, case: Escalation, manager, owner, activities: int = 1) -> Escalation:
    case = submitted(case=case, manager=manager, owner=owner, activities=activities)
    return plan_approve(escalation=case, actor=manager)


def major(*, incident: Incident, support, acknowledged_by=None) -> Escalation:
    case = escalation_classify_major(incident=incident, actor=support, reason="Whole site down.")
    if acknowledged_by is not None:
        case = major_acknowledge(escalation=case, actor=acknowledged_by)
    return case
