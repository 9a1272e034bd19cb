"""The three staff roles of the process and the permissions each one holds.

Every user is an initiator of their own incidents; the roles below are Django groups
created by a data migration. Transitions name these permissions in `permission=`.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

FIRST_LEVEL_SUPPORT = "First-level support"
INCIDENT_MANAGERS = "Incident managers"
IT_OPERATIONS = "IT operations"

# codename -> human description; all live on the Incident model's Meta.
PERMISSIONS = {
    "work_incident": "Work incidents: progress notes, hold, resolve",
    "prevent_escalation": "Flag imminent escalations and record prevention",
    "check_entitlement": "Check escalation entitlement: escalate, reject, avoid",
    "classify_major": "Classify an incident as major",
    "cancel_escalation": "Cancel an active escalation",
    "manage_deescalation": "Draft deescalation plans, post status updates, confirm",
    "approve_plan": "Approve or return deescalation plans",
    "operate_major": "Acknowledge, escalate further and act on major incidents",
}

ROLE_PERMISSIONS = {
    FIRST_LEVEL_SUPPORT: [
        "work_incident",
        "prevent_escalation",
        "check_entitlement",
        "classify_major",
        "cancel_escalation",
        "view_incident",
        "view_escalation",
    ],
    INCIDENT_MANAGERS: [
        "work_incident",
        "classify_major",
        "cancel_escalation",
        "manage_deescalation",
        "approve_plan",
        "view_incident",
        "view_escalation",
    ],
    IT_OPERATIONS: [
        "work_incident",
        "operate_major",
        "view_incident",
        "view_escalation",
    ],
}

User = AbstractBaseUser | AnonymousUser


def perm(codename: str) -> str:
    return f"incidents.{codename}"


def is_staff_member(user) -> bool:
    """Anyone who works incidents (any of the three roles), as opposed to a pure initiator."""
    return bool(user and user.is_authenticated and user.has_perm(perm("work_incident")))
