"""The incident's timeline: an append-only record of every change and note."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from incidents.people import person_name


class TimelineEntry(models.Model):
    class Kind(models.TextChoices):
        REPORTED = "reported", "Reported"
        TRANSITION = "transition", "Status change"
        PROGRESS = "progress", "Progress note"
        PREVENTION = "prevention", "Prevention action"
        OPERATIONS = "operations", "IT operations"
        PLAN = "plan", "Deescalation plan"
        ACTIVITY = "activity", "Deescalation activity"
        STATUS_UPDATE = "status_update", "Status update to the initiator"
        ASSIGNMENT = "assignment", "Assignment"
        REMINDER = "reminder", "Reminder"
        LINK = "link", "Linked incident"
        REVIEW = "review", "Post-incident review"

    class Machine(models.TextChoices):
        INCIDENT = "incident", "Incident"
        ESCALATION = "escalation", "Escalation"
        ACTIVITY = "activity", "Activity"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="timeline"
    )
    escalation = models.ForeignKey(
        "incidents.Escalation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="timeline",
    )
    kind = models.CharField(max_length=16, choices=Kind)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the system acted (SLA monitor, automatic avoidance).",
    )
    machine = models.CharField(max_length=12, choices=Machine, blank=True)
    action = models.CharField(max_length=40, blank=True, help_text="The transition's name.")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    note = models.TextField(blank=True)
    public = models.BooleanField(default=False, help_text="Shown to the initiator.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "timeline entries"
        indexes = [models.Index(fields=["incident", "created_at"], name="timeline_by_incident")]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} on {self.incident_id} at {self.created_at:%Y-%m-%d %H:%M}"
        )

    def save(self, *args, **kwargs) -> None:
        # Append-only: an entry, once written, is history and is never rewritten.
        if self.pk is not None and not self._state.adding:
            raise TypeError("Timeline entries are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Timeline entries are append-only and cannot be deleted.")

    @property
    def actor_name(self) -> str:
        return person_name(self.actor, "Escalation Portal")
