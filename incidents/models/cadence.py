"""Promised updates and reminders: how often the initiator hears, and what was sent when."""

from django.db import models
from django.utils import timezone

from .reference import Priority

# Used when an administrator has not set (or deleted) a priority's cadence.
DEFAULT_CADENCE_MINUTES = {1: 60, 2: 240, 3: 480, 4: 1440, 5: 1440}


class UpdateCadence(models.Model):
    """How often an escalated incident of one priority promises the initiator an update."""

    priority = models.PositiveSmallIntegerField(choices=Priority, unique=True)
    interval_minutes = models.PositiveIntegerField(
        help_text="Minutes between public status updates while the incident is escalated."
    )

    class Meta:
        ordering = ["priority"]

    def __str__(self) -> str:
        return f"{self.get_priority_display()}: every {self.interval_minutes} minutes"


class Reminder(models.Model):
    """One reminder sent for one due moment. The unique constraints are the guarantee
    that two monitor runs at once, or a run repeated, send it exactly once."""

    class Kind(models.TextChoices):
        ACTIVITY_OVERDUE = "activity_overdue", "Deescalation activity overdue"
        UPDATE_DUE = "update_due", "Status update due"
        ACK_TIMEOUT = "ack_timeout", "Major incident not acknowledged"

    kind = models.CharField(max_length=20, choices=Kind)
    escalation = models.ForeignKey(
        "incidents.Escalation", on_delete=models.CASCADE, related_name="reminders"
    )
    activity = models.ForeignKey(
        "incidents.DeescalationActivity",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
    )
    due_at = models.DateTimeField(help_text="The due moment this reminder is for.")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            # Two constraints, because NULLs never collide in a unique index.
            models.UniqueConstraint(
                fields=["kind", "activity", "due_at"],
                condition=models.Q(activity__isnull=False),
                name="one_reminder_per_activity_moment",
            ),
            models.UniqueConstraint(
                fields=["kind", "escalation", "due_at"],
                condition=models.Q(activity__isnull=True),
                name="one_reminder_per_case_moment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.due_at:%Y-%m-%d %H:%M}"
