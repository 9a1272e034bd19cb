"""The outbox: one row per recipient and channel, written in the same transaction as the change."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone


def message_id_domain() -> str:
    configured = settings.NOTIFICATIONS.get("MESSAGE_ID_DOMAIN")
    return configured or urlsplit(settings.SITE_URL).hostname or "escalation-portal.invalid"


def message_id_of(pk: int) -> str:
    """The Message-ID of the notification with this key: stable for the row's life, so every
    attempt (and every duplicate) carries the same one."""
    return f"<notification.{pk}@{message_id_domain()}>"


class Notification(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # No choices on purpose: a new Event or Channel then needs no migration. notification_queue
    # only writes members of the enums, so the values stay checked where rows are made.
    channel = models.CharField(max_length=12)
    event = models.CharField(max_length=40)
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
    # The timeline entry of the step that caused it: the in-app row and the e-mail row of
    # one step share it, so a page can show "told in-app, e-mail sent" as one line.
    cause = models.ForeignKey(
        "incidents.TimelineEntry",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Rendered when queued, so a later edit of the incident cannot change what was said.
    subject = models.CharField(max_length=255)
    body = models.TextField()
    body_html = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=200, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the next delivery attempt is due: creation time, or later while backing off.
    # The sweeper only picks rows whose attempt is overdue, so it never undoes a backoff.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # An e-mail row a delivery task is sending is claimed by it (the task's id) until the
    # lease runs out: no other task sends it meanwhile, and a task that died mid-batch is
    # redelivered under the same id and takes its rows back at once (see services).
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbox_pending"),
            models.Index(fields=["status", "channel", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["recipient", "channel", "read_at"], name="inbox_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.recipient} via {self.channel} ({self.status})"

    @property
    def message_id(self) -> str:
        return message_id_of(self.pk)

    @property
    def link(self) -> str:
        """The page the reader acts on: the status page for the initiator, else the staff page."""
        number = self.incident.number
        if self.recipient_id == self.incident.initiator_id:
            return f"/my/incidents/{number}/"
        return f"/incidents/{number}/"


class NotificationPreference(models.Model):
    """Which kinds of event a person does not want by e-mail. In-app is always on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    muted_events = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Notification preferences of {self.user}"
