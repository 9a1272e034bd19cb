"""Reference data: services, support groups, the priority matrix, SLA targets, procedures."""

from django.conf import settings
from django.db import models


class Priority(models.IntegerChoices):
    P1 = 1, "P1 Critical"
    P2 = 2, "P2 High"
    P3 = 3, "P3 Moderate"
    P4 = 4, "P4 Low"
    P5 = 5, "P5 Planning"


class Impact(models.IntegerChoices):
    HIGH = 1, "1 High"
    MEDIUM = 2, "2 Medium"
    LOW = 3, "3 Low"


class Urgency(models.IntegerChoices):
    HIGH = 1, "1 High"
    MEDIUM = 2, "2 Medium"
    LOW = 3, "3 Low"


class Service(models.Model):
    class Tier(models.IntegerChoices):
        CRITICAL = 1, "Tier 1 (business critical)"
        STANDARD = 2, "Tier 2 (standard)"
        BASIC = 3, "Tier 3 (basic)"

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    tier = models.PositiveSmallIntegerField(choices=Tier, default=Tier.STANDARD)
    default_group = models.ForeignKey(
        "incidents.SupportGroup", null=True, blank=True, on_delete=models.SET_NULL
    )
    calendar = models.ForeignKey(
        "incidents.BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="When this service's SLA clocks run; empty: the priority's policy decides.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SupportGroup(models.Model):
    name = models.CharField(max_length=120, unique=True)
    level = models.PositiveSmallIntegerField(
        choices=[(1, "Level 1"), (2, "Level 2"), (3, "Level 3")], default=1
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="support_groups"
    )

    class Meta:
        ordering = ["level", "name"]

    def __str__(self) -> str:
        return f"{self.name} (L{self.level})"


class PriorityRule(models.Model):
    """One cell of the impact x urgency matrix; the data migration seeds ServiceNow's."""

    impact = models.PositiveSmallIntegerField(choices=Impact)
    urgency = models.PositiveSmallIntegerField(choices=Urgency)
    priority = models.PositiveSmallIntegerField(choices=Priority)

    class Meta:
        ordering = ["impact", "urgency"]
        constraints = [
            models.UniqueConstraint(fields=["impact", "urgency"], name="one_priority_per_cell")
        ]

    def __str__(self) -> str:
        return f"impact {self.impact} x urgency {self.urgency} -> P{self.priority}"


class SLAPolicy(models.Model):
    """Response and resolution targets for one priority, the calendar they are counted in,
    when to warn and what happens on breach (see docs/sla.md)."""

    class BreachAction(models.TextChoices):
        REQUEST = "request", "Open an escalation request for the entitlement check"
        ESCALATE = "escalate", "Escalate at once per the escalation procedure"

    priority = models.PositiveSmallIntegerField(choices=Priority, unique=True)
    response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    warning_percentages = models.JSONField(
        default=list, help_text="Shares of the target at which to warn, e.g. [50, 75]."
    )
    calendar = models.ForeignKey(
        "incidents.BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="When the clocks run (a service's own calendar wins); empty: 24x7.",
    )
    breach_action = models.CharField(
        max_length=10, choices=BreachAction, default=BreachAction.REQUEST
    )
    reminder_calendar = models.ForeignKey(
        "incidents.BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Warnings and breach alerts wait for this calendar's business hours; "
        "empty: alert at any hour. Major incidents always alert at once.",
    )
    stale_after_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Hours without a progress note before it is stale."
    )

    class Meta:
        ordering = ["priority"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"SLA for {self.get_priority_display()}"


class EscalationProcedure(models.Model):
    """What 'escalate' does for a priority: functional and/or hierarchical escalation."""

    priority = models.PositiveSmallIntegerField(choices=Priority, unique=True)
    functional = models.BooleanField(
        default=True, help_text="Raise the support level and hand to the next level's group."
    )
    hierarchical = models.BooleanField(default=True, help_text="Alert the incident managers.")

    class Meta:
        ordering = ["priority"]

    def __str__(self) -> str:
        return f"Escalation procedure for {self.get_priority_display()}"
