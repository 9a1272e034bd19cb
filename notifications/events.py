"""The catalogue of events: who hears about what, on which channel. One place, on purpose.

Services name an event; this module decides the audience. Templates live under
templates/notifications/<event>/ (subject.txt, body.txt, body.html).
"""

from dataclasses import dataclass
from enum import StrEnum


class Event(StrEnum):
    # To the initiator
    INCIDENT_REPORTED = "incident_reported"
    ESCALATION_REQUESTED = "escalation_requested"
    ESCALATION_REJECTED = "escalation_rejected"
    ESCALATION_AVOIDED = "escalation_avoided"
    ESCALATION_ESCALATED = "escalation_escalated"
    INCIDENT_CLASSIFIED_MAJOR = "incident_classified_major"
    PLAN_APPROVED = "plan_approved"
    STATUS_UPDATE = "status_update"
    DEESCALATED = "deescalated"
    INCIDENT_RESOLVED = "incident_resolved"
    ESCALATION_CANCELLED = "escalation_cancelled"
    INCIDENT_CANCELLED = "incident_cancelled"
    INCIDENT_ON_HOLD = "incident_on_hold"
    # To staff
    ESCALATION_IMMINENT = "escalation_imminent"
    MAJOR_INCIDENT = "major_incident"
    MAJOR_ESCALATED_FURTHER = "major_escalated_further"
    PLAN_SUBMITTED = "plan_submitted"
    PLAN_RETURNED = "plan_returned"
    MAJOR_HANDED_OVER = "major_handed_over"
    ACTIVITY_ASSIGNED = "activity_assigned"
    ACTIVITY_OVERDUE = "activity_overdue"
    INCIDENT_REOPENED = "incident_reopened"
    CALLER_REPLIED = "caller_replied"
    # Deescalation and major incidents (issue 6)
    PLAN_CHANGED = "plan_changed"
    INCIDENT_LINKED_TO_MAJOR = "incident_linked_to_major"
    UPDATE_DUE = "update_due"
    MAJOR_NOT_ACKNOWLEDGED = "major_not_acknowledged"
    REVIEW_SUBMITTED = "review_submitted"


class Audience(StrEnum):
    INITIATOR = "initiator"
    FIRST_LEVEL_SUPPORT = "first_level_support"
    INCIDENT_MANAGERS = "incident_managers"
    IT_OPERATIONS = "it_operations"
    PLAN_AUTHOR = "plan_author"
    ACTIVITY_OWNER = "activity_owner"
    # Whoever works the incident now: its assignee, else its group, else first-level support.
    ASSIGNEE_OR_GROUP = "assignee_or_group"


class Channel(StrEnum):
    EMAIL = "email"
    IN_APP = "in_app"


@dataclass(frozen=True)
class EventSpec:
    audiences: tuple[Audience, ...]
    description: str
    # Alerts that reach staff even when they muted this kind of e-mail (P1 / major).
    urgent: bool = False
    # A receipt: the initiator gets it even when they took the step themselves.
    receipt: bool = False


A = Audience
CATALOGUE: dict[Event, EventSpec] = {
    Event.INCIDENT_REPORTED: EventSpec((A.INITIATOR,), "Receipt for a new incident", receipt=True),
    Event.ESCALATION_REQUESTED: EventSpec(
        (A.INITIATOR, A.FIRST_LEVEL_SUPPORT),
        "Receipt to the initiator; a new entitlement check for first-level support",
        receipt=True,
    ),
    Event.ESCALATION_REJECTED: EventSpec((A.INITIATOR,), "Escalation rejected, with the reason"),
    Event.ESCALATION_AVOIDED: EventSpec((A.INITIATOR,), "Escalation avoided, with what was done"),
    Event.ESCALATION_ESCALATED: EventSpec(
        (A.INITIATOR, A.INCIDENT_MANAGERS), "Escalated: what happens next"
    ),
    Event.INCIDENT_CLASSIFIED_MAJOR: EventSpec((A.INITIATOR,), "Classified as a major incident"),
    Event.MAJOR_INCIDENT: EventSpec(
        (A.IT_OPERATIONS, A.INCIDENT_MANAGERS), "A major incident needs IT operations", urgent=True
    ),
    Event.MAJOR_ESCALATED_FURTHER: EventSpec(
        (A.INCIDENT_MANAGERS,), "IT operations escalated a major incident further", urgent=True
    ),
    Event.MAJOR_HANDED_OVER: EventSpec(
        (A.INCIDENT_MANAGERS,), "IT operations handed a major incident over for deescalation"
    ),
    Event.ESCALATION_CANCELLED: EventSpec((A.INITIATOR,), "The escalation was withdrawn"),
    Event.PLAN_SUBMITTED: EventSpec(
        (A.INCIDENT_MANAGERS,), "A deescalation plan waits for approval"
    ),
    Event.PLAN_RETURNED: EventSpec((A.PLAN_AUTHOR,), "A deescalation plan was returned for rework"),
    Event.PLAN_APPROVED: EventSpec(
        (A.INITIATOR,), "What will be done to deescalate, and when the next update comes"
    ),
    Event.ACTIVITY_ASSIGNED: EventSpec((A.ACTIVITY_OWNER,), "A deescalation activity is yours"),
    Event.ACTIVITY_OVERDUE: EventSpec(
        (A.ACTIVITY_OWNER, A.INCIDENT_MANAGERS), "A deescalation activity is overdue"
    ),
    Event.STATUS_UPDATE: EventSpec((A.INITIATOR,), "A status update from the incident manager"),
    Event.DEESCALATED: EventSpec((A.INITIATOR,), "The escalation is over: deescalated"),
    Event.INCIDENT_RESOLVED: EventSpec((A.INITIATOR,), "The incident is resolved"),
    Event.INCIDENT_CANCELLED: EventSpec((A.INITIATOR,), "The incident was cancelled"),
    Event.INCIDENT_ON_HOLD: EventSpec((A.INITIATOR,), "Support needs something from you"),
    Event.INCIDENT_REOPENED: EventSpec(
        (A.ASSIGNEE_OR_GROUP,), "The initiator reopened a resolved incident"
    ),
    Event.CALLER_REPLIED: EventSpec((A.ASSIGNEE_OR_GROUP,), "The initiator wrote to support"),
    Event.ESCALATION_IMMINENT: EventSpec(
        (A.FIRST_LEVEL_SUPPORT,), "An escalation is imminent: act to prevent it"
    ),
    Event.PLAN_CHANGED: EventSpec((A.INITIATOR,), "The plan to deescalate your incident changed"),
    Event.INCIDENT_LINKED_TO_MAJOR: EventSpec(
        (A.INITIATOR,), "Your incident is part of a major incident; you will receive its updates"
    ),
    Event.UPDATE_DUE: EventSpec(
        (A.INCIDENT_MANAGERS,), "A promised status update to the initiator is due"
    ),
    Event.MAJOR_NOT_ACKNOWLEDGED: EventSpec(
        (A.IT_OPERATIONS, A.INCIDENT_MANAGERS),
        "A major incident is still not acknowledged by IT operations",
        urgent=True,
    ),
    Event.REVIEW_SUBMITTED: EventSpec(
        (A.INCIDENT_MANAGERS,), "The post-incident review of a major incident was submitted"
    ),
}
