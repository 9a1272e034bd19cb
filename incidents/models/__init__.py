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
from .timeline import TimelineEntry

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "DeescalationActivity",
    "DeescalationPlan",
    "Escalation",
    "EscalationProcedure",
    "EscalationState",
    "Impact",
    "Incident",
    "OperationsLog",
    "PreventionAction",
    "Priority",
    "PriorityRule",
    "SLAPolicy",
    "Service",
    "SupportGroup",
    "TimelineEntry",
    "Urgency",
]
