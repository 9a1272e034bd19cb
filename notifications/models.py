"""The outbox: one row per recipient and channel, written in the same transaction as the change."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .events import Channel, Event


class Notification(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=12, choices=[(c.value, c.name) for c in Channel])
    event = models.CharField(max_length=40, choices=[(e.value, e.name) for e in Event])
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="notifications"
    )
    escalation = models.ForeignKey(
        "incidents.Escalation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    # Rendered when queued, so a later edit of the incident cannot change what was said.
    subject = models.CharField(max_length=255)
    body = models.TextField()
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=200, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbox_pending"),
            models.Index(fields=["recipient", "channel", "read_at"], name="inbox_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.recipient} via {self.channel} ({self.status})"
