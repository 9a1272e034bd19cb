"""The escalation case and its state machine (DESIGN.md section 2, second machine).

An incident can be escalated more than once over its life, so each case is its own row;
at most one case per incident is active, which the database enforces.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from incidents.roles import perm

from .conditions import condition


class EscalationState(models.TextChoices):
    IMMINENT = "imminent", "Imminent"
    REQUESTED = "requested", "Awaiting entitlement check"
    REJECTED = "rejected", "Rejected"
    AVOIDED = "avoided", "Avoided"
    ESCALATED = "escalated", "Escalated"
    MAJOR = "major", "Major incident"
    PLAN_SUBMITTED = "plan_submitted", "Deescalation plan submitted"
    DEESCALATING = "deescalating", "Being deescalated"
    DEESCALATED = "deescalated", "Deescalated"
    CANCELLED = "cancelled", "Cancelled"


S = EscalationState
ACTIVE_STATES = (S.IMMINENT, S.REQUESTED, S.ESCALATED, S.MAJOR, S.PLAN_SUBMITTED, S.DEESCALATING)
FINAL_STATES = (S.REJECTED, S.AVOIDED, S.DEESCALATED, S.CANCELLED)


def _staff_with(codename: str):
    def check(instance: "Escalation", user) -> bool:
        return bool(user.is_authenticated and user.has_perm(perm(codename)))

    check.__name__ = f"staff_with_{codename}"
    return check


def _initiator_or_staff_with(codename: str):
    def check(instance: "Escalation", user) -> bool:
        return bool(
            user.is_authenticated
            and (user.pk == instance.incident.initiator_id or user.has_perm(perm(codename)))
        )

    check.__name__ = f"initiator_or_{codename}"
    return check


def _may_approve_plan(instance: "Escalation", user) -> bool:
    if not (user.is_authenticated and user.has_perm(perm("approve_plan"))):
        return False
    if settings.PORTAL["PLAN_FOUR_EYES"]:
        plan = getattr(instance, "plan", None)
        return plan is None or plan.author_id != user.pk
    return True


@condition("The incident is no longer open.")
def incident_is_open(escalation: "Escalation") -> bool:
    return escalation.incident.is_open


@condition("The deescalation plan needs at least one activity.")
def plan_has_activities(escalation: "Escalation") -> bool:
    plan = getattr(escalation, "plan", None)
    return plan is not None and plan.activities.exists()


@condition("Every deescalation activity must be done or cancelled first.")
def all_activities_finished(escalation: "Escalation") -> bool:
    plan = getattr(escalation, "plan", None)
    return plan is not None and not plan.activities.filter(status="open").exists()


@condition(
    "This was a major incident: submit the post-incident review (summary, cause, "
    "follow-up actions with owners) before the escalation can close."
)
def review_if_ever_major(escalation: "Escalation") -> bool:
    return escalation.major_at is None or hasattr(escalation, "review")


@condition("IT operations have already acknowledged this major incident.")
def not_acknowledged(escalation: "Escalation") -> bool:
    return escalation.acknowledged_at is None


@condition("IT operations must acknowledge the major incident first.")
def acknowledged(escalation: "Escalation") -> bool:
    return escalation.acknowledged_at is not None


class Escalation(ConcurrentTransitionMixin, models.Model):
    State = EscalationState

    class Kind(models.TextChoices):
        FUNCTIONAL = "functional", "Functional (next support level)"
        HIERARCHICAL = "hierarchical", "Hierarchical (incident managers)"
        BOTH = "both", "Functional and hierarchical"

    class Source(models.TextChoices):
        INITIATOR = "initiator", "Asked by the initiator"
        SUPPORT = "support", "Raised by first-level support"
        SLA_MONITOR = "sla_monitor", "Raised by the SLA monitor"
        MAJOR = "major", "Declared a major incident"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="escalations"
    )
    state = FSMField(choices=EscalationState, default=S.REQUESTED, protected=True)
    source = models.CharField(max_length=16, choices=Source)
    kind = models.CharField(max_length=16, choices=Kind, blank=True)
    level = models.PositiveSmallIntegerField(default=0)
    reason = models.TextField(help_text="Why escalation was asked for or flagged.")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the SLA monitor raised it.",
    )
    warning_percentage = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The SLA warning threshold that opened it, if any."
    )

    # The entitlement check: what was recommended, what was decided, and why.
    recommendation = models.JSONField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    requested_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    major_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deescalation_started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"],
                condition=models.Q(state__in=ACTIVE_STATES),
                name="one_active_escalation_per_incident",
            )
        ]
        indexes = [
            models.Index(fields=["state", "created_at"], name="escalation_by_state"),
            # "Recently decided" and its tab count.
            models.Index(fields=["decided_at"], name="escalation_by_decision"),
        ]

    def __str__(self) -> str:
        return f"Escalation of {self.incident.number}: {self.get_state_display()}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    # --- imminent: prevention ----------------------------------------------------

    @transition(
        field=state,
        source=S.IMMINENT,
        target=S.IMMINENT,
        permission=_staff_with("prevent_escalation"),
        conditions=[incident_is_open],
    )
    def record_prevention(self) -> None:
        """Prevention is logged beside the case; the state stays imminent."""

    @transition(
        field=state,
        source=S.IMMINENT,
        target=S.REQUESTED,
        permission=_initiator_or_staff_with("prevent_escalation"),
        conditions=[incident_is_open],
    )
    def request(self, *, reason: str) -> None:
        self.requested_at = timezone.now()
        self.reason = f"{self.reason}\n\n{reason}".strip() if reason else self.reason

    # --- the entitlement check --------------------------------------------------

    @transition(
        field=state,
        source=[S.IMMINENT, S.REQUESTED],
        target=S.AVOIDED,
        permission=_staff_with("check_entitlement"),
    )
    def avoid(self, *, reason: str) -> None:
        self._decide(reason)
        self.ended_at = self.decided_at

    @transition(
        field=state,
        source=S.REQUESTED,
        target=S.REJECTED,
        permission=_staff_with("check_entitlement"),
    )
    def reject(self, *, reason: str) -> None:
        self._decide(reason)
        self.ended_at = self.decided_at

    @transition(
        field=state,
        source=S.REQUESTED,
        target=S.ESCALATED,
        permission=_staff_with("check_entitlement"),
        conditions=[incident_is_open],
    )
    def escalate(self, *, reason: str, kind: str) -> None:
        self._decide(reason)
        self.kind = kind
        self.level += 1
        self.escalated_at = self.decided_at

    def _decide(self, reason: str) -> None:
        self.decision_reason = reason
        self.decided_at = timezone.now()

    # --- major incidents --------------------------------------------------------

    @transition(
        field=state,
        source=[S.IMMINENT, S.REQUESTED, S.ESCALATED, S.PLAN_SUBMITTED, S.DEESCALATING],
        target=S.MAJOR,
        permission=_staff_with("classify_major"),
        conditions=[incident_is_open],
    )
    def classify_major(self, *, reason: str) -> None:
        now = timezone.now()
        self.major_at = now
        self.escalated_at = self.escalated_at or now
        self.level = max(self.level, 1)
        self.acknowledged_at = None
        self.acknowledged_by = None
        if not self.decided_at:
            self.decision_reason = reason
            self.decided_at = now

    @transition(
        field=state,
        source=S.MAJOR,
        target=S.MAJOR,
        permission=_staff_with("operate_major"),
        conditions=[not_acknowledged],
    )
    def acknowledge(self, *, by) -> None:
        self.acknowledged_at = timezone.now()
        self.acknowledged_by = by

    @transition(
        field=state,
        source=S.MAJOR,
        target=S.MAJOR,
        permission=_staff_with("operate_major"),
        conditions=[acknowledged],
    )
    def escalate_further(self) -> None:
        self.level += 1

    @transition(
        field=state,
        source=S.MAJOR,
        target=S.MAJOR,
        permission=_staff_with("operate_major"),
        conditions=[acknowledged],
    )
    def log_action(self) -> None:
        """The action itself is an OperationsLog row written by the service."""

    @transition(
        field=state,
        source=S.MAJOR,
        target=S.ESCALATED,
        permission=_staff_with("operate_major"),
        conditions=[acknowledged],
    )
    def hand_over(self) -> None:
        """IT operations hand the major incident to the incident managers to deescalate."""

    # --- deescalation -----------------------------------------------------------

    @transition(
        field=state,
        source=S.ESCALATED,
        target=S.PLAN_SUBMITTED,
        permission=_staff_with("manage_deescalation"),
        conditions=[plan_has_activities],
    )
    def submit_plan(self) -> None:
        self.plan.submitted_at = timezone.now()

    @transition(
        field=state,
        source=S.PLAN_SUBMITTED,
        target=S.ESCALATED,
        permission=_may_approve_plan,
    )
    def return_plan(self, *, comment: str) -> None:
        self.plan.review_comment = comment
        self.plan.submitted_at = None

    @transition(
        field=state,
        source=S.PLAN_SUBMITTED,
        target=S.DEESCALATING,
        permission=_may_approve_plan,
    )
    def approve_plan(self, *, by) -> None:
        now = timezone.now()
        self.plan.approved_at = now
        self.plan.approved_by = by
        self.deescalation_started_at = now

    @transition(
        field=state,
        source=S.DEESCALATING,
        target=S.DEESCALATED,
        permission=_staff_with("manage_deescalation"),
        conditions=[all_activities_finished, review_if_ever_major],
    )
    def confirm_deescalation(self, *, note: str) -> None:
        self.decision_reason = note or self.decision_reason
        self.ended_at = timezone.now()

    @transition(
        field=state,
        source=list(ACTIVE_STATES),
        target=S.CANCELLED,
        permission=_staff_with("cancel_escalation"),
    )
    def cancel(self, *, reason: str) -> None:
        self.decision_reason = reason
        self.ended_at = timezone.now()


class PreventionAction(models.Model):
    """What first-level support did to keep an imminent escalation from happening."""

    class Kind(models.TextChoices):
        REASSIGN = "reassign", "Reassigned"
        RAISE_LEVEL = "raise_level", "Raised the support level"
        ENGAGE_SPECIALIST = "engage_specialist", "Engaged a specialist"
        NOTE = "note", "Other action"

    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, related_name="prevention_actions"
    )
    kind = models.CharField(max_length=24, choices=Kind)
    note = models.TextField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.note[:40]}"


class OperationsLog(models.Model):
    """What IT operations did on a major incident: further escalations and actions taken."""

    class Kind(models.TextChoices):
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ESCALATED_FURTHER = "escalated_further", "Escalated further"
        ACTION = "action", "Action taken"
        LINKED = "linked", "Linked a related incident"
        HANDED_OVER = "handed_over", "Handed over for deescalation"

    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, related_name="operations_log"
    )
    kind = models.CharField(max_length=24, choices=Kind)
    note = models.TextField(blank=True)
    stakeholders = models.TextField(blank=True, help_text="Who was told, for escalations.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        # "Recently handed over" on the IT operations queue: the latest 10 of one kind,
        # read off the index instead of sorting every log row ever written.
        indexes = [models.Index(fields=["kind", "-created_at"], name="operations_log_by_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"
