"""Major incidents: impact facts, linked incidents, stakeholders and the post-incident review."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class IncidentImpact(models.Model):
    """How widely an incident hurts: facts behind the major-incident classification."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="impact_facts"
    )
    users_affected = models.PositiveIntegerField(null=True, blank=True)
    services_affected = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Impact of {self.incident_id}"


class IncidentLink(models.Model):
    """A related incident, reported by someone else, linked to a major incident's case;
    its initiator then receives the major incident's public updates."""

    major_case = models.ForeignKey(
        "incidents.Escalation", on_delete=models.CASCADE, related_name="linked_incidents"
    )
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="major_links"
    )
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["linked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["major_case", "incident"], name="link_incident_to_major_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} linked to case {self.major_case_id}"


class Stakeholder(models.Model):
    """Who IT operations escalate a major incident further to (management, owners)."""

    name = models.CharField(max_length=120)
    email = models.EmailField()
    role = models.CharField(max_length=120, help_text="e.g. Head of IT, service owner")
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [models.UniqueConstraint(fields=["email"], name="one_stakeholder_per_email")]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class StakeholderNotice(models.Model):
    """The e-mail to one stakeholder about one further escalation: stakeholders have no
    account, so they get their own small outbox, delivered after commit and swept by beat."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"

    log = models.ForeignKey(
        "incidents.OperationsLog", on_delete=models.CASCADE, related_name="stakeholder_notices"
    )
    stakeholder = models.ForeignKey(Stakeholder, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField()
    subject = models.CharField(max_length=255)
    body = models.TextField()
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["log", "stakeholder"], name="one_notice_per_escalation")
        ]

    def __str__(self) -> str:
        return f"To {self.email} ({self.status})"


class PostIncidentReview(models.Model):
    """What happened and what follows: a major incident's case closes only with one."""

    escalation = models.OneToOneField(
        "incidents.Escalation", on_delete=models.CASCADE, related_name="review"
    )
    summary = models.TextField()
    cause = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Post-incident review of case {self.escalation_id}"


class FollowUpAction(models.Model):
    review = models.ForeignKey(
        PostIncidentReview, on_delete=models.CASCADE, related_name="follow_ups"
    )
    position = models.PositiveSmallIntegerField(default=0)
    description = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.description[:60]
