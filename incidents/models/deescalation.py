"""Deescalation plans: activities with an owner and a due time, approved before work starts."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from incidents.roles import perm


class DeescalationPlan(models.Model):
    escalation = models.OneToOneField(
        "incidents.Escalation", on_delete=models.CASCADE, related_name="plan"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    summary = models.TextField(help_text="What will be done, in words the initiator understands.")
    review_comment = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Bumped by every rewrite and reorder: the plan editor posts the revision it showed,
    # so of two managers editing at once the second is told instead of overwriting.
    revision = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Deescalation plan for {self.escalation.incident.number}"


def _owner_or_manager(instance: "DeescalationActivity", user) -> bool:
    return bool(
        user.is_authenticated
        and (user.pk == instance.owner_id or user.has_perm(perm("manage_deescalation")))
    )


def _manager(instance: "DeescalationActivity", user) -> bool:
    return bool(user.is_authenticated and user.has_perm(perm("manage_deescalation")))


class DeescalationActivity(FSMModelMixin, models.Model):
    # FSMModelMixin lets refresh_from_db() reload the protected status field; without it
    # reloading an activity raised "Direct status modification is not allowed".
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    plan = models.ForeignKey(DeescalationPlan, on_delete=models.CASCADE, related_name="activities")
    position = models.PositiveSmallIntegerField(default=0)
    description = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deescalation_activities"
    )
    due_at = models.DateTimeField()
    status = FSMField(choices=Status, default=Status.OPEN, protected=True)
    note = models.TextField(blank=True, help_text="What was done, or why it was cancelled.")
    finished_at = models.DateTimeField(null=True, blank=True)
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["position", "due_at"]
        verbose_name_plural = "deescalation activities"
        indexes = [
            # "My activities": the owner's latest finished ones, walked in order and cut
            # after 20, whatever the length of the owner's history.
            models.Index(
                fields=["owner", "-finished_at", "due_at", "id"],
                condition=~models.Q(status="open"),
                name="activity_finished_by_owner",
            ),
            # "My activities": the owner's open ones without reading their finished history
            # (owner_id alone read 2,700 rows to find 32 at 100,000 incidents). Not partial:
            # SQLite cannot match a partial index to a bound status parameter.
            models.Index(fields=["owner", "status"], name="activity_by_owner_status"),
        ]

    def __str__(self) -> str:
        return self.description[:60]

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_at < timezone.now()

    @transition(field=status, source=Status.OPEN, target=Status.DONE, permission=_owner_or_manager)
    def complete(self, *, by, note: str) -> None:
        self.note = note
        self.finished_at = timezone.now()
        self.finished_by = by

    @transition(field=status, source=Status.OPEN, target=Status.CANCELLED, permission=_manager)
    def cancel(self, *, by, reason: str) -> None:
        self.note = reason
        self.finished_at = timezone.now()
        self.finished_by = by
