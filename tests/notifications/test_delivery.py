"""E-mail delivery from the outbox: idempotent, threaded, retried only when it can help."""

import smtplib
import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from incidents.models import Incident
from incidents.services.escalations import escalation_escalate, escalation_request
from notifications.channels import email_failure_kind
from notifications.models import Notification
from notifications.services import (
    notification_deliver,
    notification_preferences_update,
    notification_resend,
    notification_sweep,
    retry_delay,
)
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(initiator, service):
    return IncidentFactory(initiator=initiator, service=service, status=Incident.Status.IN_PROGRESS)


def emails(**filters):
    return Notification.objects.filter(channel="email", **filters).order_by("pk")


def test_delivering_a_row_twice_sends_one_message(incident):
    row = emails().get()
    notification_deliver(notification_id=row.pk)
    notification_deliver(notification_id=row.pk)
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1


def test_the_message_carries_recipient_subject_links_and_both_bodies(incident):
    notification_deliver(notification_id=emails().get().pk)
    (message,) = mail.outbox
    assert message.to == ["ivy@example.com"]
    assert message.subject.startswith(f"[{incident.number}]")
    assert f"/my/incidents/{incident.number}/" in message.body
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html" and f"/my/incidents/{incident.number}/" in html


def test_later_messages_reply_to_the_first_so_the_incident_is_one_conversation(
    incident, support_user
):
    case = escalation_request(incident=incident, actor=incident.initiator, reason="Still down")
    escalation_escalate(escalation=case, actor=support_user, reason="Entitled")
    to_ivy = list(emails(recipient=incident.initiator))
    assert [r.event for r in to_ivy] == [
        "incident_reported", "escalation_requested", "escalation_escalated",
    ]  # fmt: skip
    for row in to_ivy:
        notification_deliver(notification_id=row.pk, drain=0)
    first, second, third = mail.outbox
    root = first.extra_headers["Message-ID"]
    assert root == to_ivy[0].message_id
    assert "In-Reply-To" not in first.extra_headers
    for later, row in [(second, to_ivy[1]), (third, to_ivy[2])]:
        assert later.extra_headers["Message-ID"] == row.message_id != root
        assert later.extra_headers["In-Reply-To"] == root
        assert later.extra_headers["References"] == root
    assert "Message-ID: " + root in first.message().as_string()


def test_one_task_drains_other_due_rows(incident, other_initiator, service):
    IncidentFactory(initiator=other_initiator, service=service)
    first, _ = emails()
    notification_deliver(notification_id=first.pk)
    assert sorted(m.to[0] for m in mail.outbox) == ["ivy@example.com", "oscar@example.com"]
    assert not emails(status="pending").exists()


def test_muted_email_still_arrives_in_app(initiator, service):
    notification_preferences_update(user=initiator, muted_events=["incident_reported"])
    IncidentFactory(initiator=initiator, service=service)
    assert not emails().exists()
    assert Notification.objects.filter(channel="in_app", recipient=initiator).count() == 1


def test_alerts_about_p1_incidents_ignore_muted_staff(initiator, support_user, service):
    notification_preferences_update(user=support_user, muted_events=["escalation_requested"])
    quiet = IncidentFactory(initiator=initiator, service=service, impact=3, urgency=3,
                            status=Incident.Status.IN_PROGRESS)  # fmt: skip
    p1 = IncidentFactory(initiator=initiator, service=service, impact=1, urgency=1,
                         status=Incident.Status.IN_PROGRESS)  # fmt: skip
    escalation_request(incident=quiet, actor=initiator, reason="x")
    escalation_request(incident=p1, actor=initiator, reason="x")
    assert list(emails(recipient=support_user).values_list("incident", flat=True)) == [p1.pk]
    assert Notification.objects.filter(channel="in_app", recipient=support_user).count() == 2


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (smtplib.SMTPDataError(451, b"try later"), "transient"),
        (smtplib.SMTPDataError(550, b"no such user"), "permanent"),
        (smtplib.SMTPRecipientsRefused({"a@b": (452, b"full")}), "transient"),
        (smtplib.SMTPRecipientsRefused({"a@b": (550, b"unknown")}), "permanent"),
        (smtplib.SMTPServerDisconnected("gone"), "transient"),
        (ConnectionRefusedError(), "transient"),
        (TimeoutError("timed out"), "transient"),
        (ValueError("no address"), "permanent"),
    ],
)
def test_failures_are_told_apart(error, kind):
    assert email_failure_kind(error) == kind


@pytest.fixture
def unreachable_smtp(settings):
    """A real SMTP backend pointed at a port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return port


def test_a_connection_error_is_retried_later_then_fails_after_the_last_attempt(
    incident, unreachable_smtp, settings
):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "MAX_ATTEMPTS": 3}
    row = emails().get()
    (attempt,) = notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert attempt.outcome == "retry" and row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at > timezone.now()
    assert "ConnectionRefusedError" in row.last_error
    for _ in range(2):
        notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 3 and "attempt 3" in row.last_error


def test_backoff_grows_to_about_four_hours_in_total(settings):
    waits = [retry_delay(attempts=n) for n in range(1, settings.NOTIFICATIONS["MAX_ATTEMPTS"])]
    assert waits[1] > waits[0] * 1.15  # exponential, jitter cannot hide it
    assert 2.5 * 3600 < sum(waits) < 5.5 * 3600


def test_a_failed_row_can_be_resent(incident, support_user, django_capture_on_commit_callbacks):
    row = emails().get()
    Notification.objects.filter(pk=row.pk).update(status="failed", attempts=1, last_error="550")
    with django_capture_on_commit_callbacks(execute=True):
        row = notification_resend(notification=row, actor=support_user)
    assert row.status == "pending" and row.attempts == 0
    notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert row.status == "sent" and row.last_error == "" and len(mail.outbox) == 1


def test_the_sweeper_takes_only_rows_overdue_for_a_few_minutes(
    incident, other_initiator, service, django_capture_on_commit_callbacks
):
    IncidentFactory(initiator=other_initiator, service=service)
    old, _ = emails()
    Notification.objects.filter(pk=old.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert notification_sweep() == 1
    assert len(callbacks) == 1
    old.refresh_from_db()
    # Re-armed: a second sweep right away leaves it to the task just enqueued.
    assert notification_sweep() == 0
    assert old.next_attempt_at > timezone.now() - timedelta(minutes=1)


def test_a_worker_sends_later_batches_over_the_session_it_kept_open(
    incident, other_initiator, service, smtp_server
):
    notification_deliver(notification_id=emails().get().pk)
    IncidentFactory(initiator=other_initiator, service=service)
    notification_deliver(notification_id=emails(status="pending").get().pk)
    assert emails(status="sent").count() == 2
    assert len(smtp_server.sessions) == 2 and len(set(smtp_server.sessions)) == 1


def test_a_session_the_server_dropped_is_reopened_without_costing_an_attempt(
    incident, other_initiator, service, smtp_server
):
    notification_deliver(notification_id=emails().get().pk)
    smtp_server.drop_sessions()
    IncidentFactory(initiator=other_initiator, service=service)
    row = emails(status="pending").get()
    (attempt,) = notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert attempt.outcome == "sent" and row.status == "sent" and row.attempts == 1
    assert len(set(smtp_server.sessions)) == 2


def test_a_sent_row_reads_back_with_its_sending_time(db, initiator, service):
    """The sent mark is written in SQL of its own (services._mark_sent): the time must come
    back as the aware datetime the ORM writes, on SQLite as on PostgreSQL."""
    from datetime import timedelta

    from django.utils import timezone

    from incidents.services.incidents import incident_report
    from notifications.models import Notification
    from notifications.services import notification_deliver

    before = timezone.now()
    incident_report(initiator=initiator, title="Printer", description="jam", service=service,
                    impact=3, urgency=3)  # fmt: skip
    row = Notification.objects.get(channel="email", recipient=initiator)
    notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 1 and row.last_error == ""
    assert before - timedelta(seconds=1) <= row.sent_at <= timezone.now()
    assert Notification.objects.filter(sent_at__gte=before, pk=row.pk).exists()
