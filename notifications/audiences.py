"""Who is in an audience, for one incident."""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model

from incidents.models import DeescalationPlan, Escalation, Incident
from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS, IT_OPERATIONS

from .events import Audience

ROLE_OF = {
    Audience.FIRST_LEVEL_SUPPORT: FIRST_LEVEL_SUPPORT,
    Audience.INCIDENT_MANAGERS: INCIDENT_MANAGERS,
    Audience.IT_OPERATIONS: IT_OPERATIONS,
}


def audience_members(
    audience: Audience,
    *,
    incident: Incident,
    escalation: Escalation | None,
    extra: dict[str, Any],
) -> Iterable[Any]:
    User = get_user_model()
    if audience == Audience.INITIATOR:
        return [incident.initiator]
    if audience in ROLE_OF:
        return User.objects.filter(groups__name=ROLE_OF[audience], is_active=True).distinct()
    if audience == Audience.PLAN_AUTHOR:
        plan = DeescalationPlan.objects.filter(escalation=escalation).select_related("author")
        return [p.author for p in plan]
    if audience == Audience.ACTIVITY_OWNER:
        owner = extra.get("owner")
        return [owner] if owner else []
    if audience == Audience.ASSIGNEE_OR_GROUP:
        if incident.assignee is not None and incident.assignee.is_active:
            return [incident.assignee]
        group = incident.assignment_group
        members = group.members.filter(is_active=True) if group is not None else User.objects.none()
        if members.exists():
            return members
        # Nobody owns it yet: the service desk does.
        return audience_members(
            Audience.FIRST_LEVEL_SUPPORT, incident=incident, escalation=escalation, extra=extra
        )
    raise ValueError(f"Unknown audience {audience}")
