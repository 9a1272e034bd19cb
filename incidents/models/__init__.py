from .cadence import DEFAULT_CADENCE_MINUTES, Reminder, UpdateCadence
from .deescalation import DeescalationActivity, DeescalationPlan
from .escalation import (
    ACTIVE_STATES,
    FINAL_STATES,
    Escalation,
    EscalationState,
    OperationsLog,
    PreventionAction,
)
from .incident import Incident
from .major import (
    FollowUpAction,
    IncidentImpact,
    IncidentLink,
    PostIncidentReview,
    Stakeholder,
    StakeholderNotice,
)
from .reference import (
    EscalationProcedure,
    Impact,
    Priority,
    PriorityRule,
    Service,
    SLAPolicy,
    SupportGroup,
    Urgency,
)
from .sla import (
    BusinessCalendar,
    BusinessHours,
    CalendarHoliday,
    SLAClock,
    SLAEvent,
    SLAThresholdCrossing,
    SLATimer,
)
from .timeline import TimelineEntry

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_CADENCE_MINUTES",
    "FINAL_STATES",
    "BusinessCalendar",
    "BusinessHours",
    "CalendarHoliday",
    "DeescalationActivity",
    "DeescalationPlan",
    "Escalation",
    "EscalationProcedure",
    "EscalationState",
    "FollowUpAction",
    "Impact",
    "Incident",
    "IncidentImpact",
    "IncidentLink",
    "OperationsLog",
    "PostIncidentReview",
    "PreventionAction",
    "Priority",
    "PriorityRule",
    "Reminder",
    "SLAClock",
    "SLAEvent",
    "SLAPolicy",
    "SLAThresholdCrossing",
    "SLATimer",
    "Service",
    "Stakeholder",
    "StakeholderNotice",
    "SupportGroup",
    "TimelineEntry",
    "UpdateCadence",
    "Urgency",
]
