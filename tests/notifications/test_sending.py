"""How a delivery task sends: claimed rows, several SMTP sessions at once, and the message
it writes for an SMTP server read exactly as Django's."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
import time_machine
from django.core import mail
from django.db import connections
from django.utils import timezone

from incidents.models import Incident
from incidents.services.incidents import incident_report
from notifications.channels import email_build, email_bytes
from notifications.claims import ClaimedEmail, emails_claim
from notifications.models import Notification
from notifications.services import notification_deliver, notification_sweep
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def emails(**filters):
    return Notification.objects.filter(channel="email", **filters).order_by("pk")


@pytest.fixture
def incident(initiator, service):
    return IncidentFactory(initiator=initiator, service=service, status=Incident.Status.IN_PROGRESS)


def test_a_row_another_task_is_sending_is_left_to_it(incident):
    row = emails().get()
    assert [c.pk for c in emails_claim(claimant="task-a", pks=[row.pk])] == [row.pk]
    (attempt,) = notification_deliver(notification_id=row.pk)
    assert attempt.outcome == "skipped" and mail.outbox == []
    assert emails(status="pending").count() == 1
    # The same task, delivered again after its worker died, takes its row back at once.
    (attempt,) = notification_deliver(notification_id=row.pk, claimant="task-a")
    assert attempt.outcome == "sent" and len(mail.outbox) == 1
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 1 and row.claimed_until is None


def test_the_rows_of_a_task_that_never_came_back_are_swept_once_its_claim_lapses(
    incident, settings, django_capture_on_commit_callbacks
):
    row = emails().get()
    Notification.objects.filter(pk=row.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    emails_claim(claimant="task-killed-by-its-time-limit", pks=[row.pk])
    assert notification_sweep() == 0  # its task may still be sending it
    lapsed = timezone.now() + timedelta(seconds=settings.NOTIFICATIONS["CLAIM_SECONDS"] + 1)
    with time_machine.travel(lapsed):
        with django_capture_on_commit_callbacks(execute=False) as enqueued:
            assert notification_sweep() == 1
        assert len(enqueued) == 1
        (attempt,) = notification_deliver(notification_id=row.pk)
    assert attempt.outcome == "sent" and len(mail.outbox) == 1


def test_the_claim_outlives_the_task_so_no_two_tasks_send_one_row(settings):
    assert settings.NOTIFICATIONS["CLAIM_SECONDS"] > settings.CELERY_TASK_TIME_LIMIT


def test_a_batch_goes_over_several_sessions_at_once_and_each_message_once(
    postgres, smtp_server, initiator, service, settings
):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "DELIVERY_SESSIONS": 4}
    for n in range(12):  # committed one by one: the lanes read on connections of their own
        incident_report(initiator=initiator, title=f"Printer {n} jammed", description="Jam",
                        service=service, impact=3, urgency=3)  # fmt: skip
    first, *also = emails().values_list("pk", flat=True)
    attempts = notification_deliver(notification_id=first, also=also, drain=0)
    assert sorted(a.notification_id for a in attempts if a.outcome == "sent") == [first, *also]
    assert emails(status="sent", claimed_until=None).count() == 12
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert len(subjects) == len(set(subjects)) == 12
    assert len(set(smtp_server.sessions)) == 4


def test_two_tasks_claiming_the_same_rows_at_once_split_them(postgres, initiator, service):
    for n in range(20):
        incident_report(initiator=initiator, title=f"Printer {n} jammed", description="Jam",
                        service=service, impact=3, urgency=3)  # fmt: skip
    pks = list(emails().values_list("pk", flat=True))
    start = threading.Barrier(2)

    def claim(claimant: str) -> list[int]:
        try:
            start.wait(5)
            return [c.pk for c in emails_claim(claimant=claimant, pks=pks)]
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(claim, ["task-a", "task-b"])
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(pks)


def test_a_transient_failure_stops_the_lane_and_gives_its_other_rows_back(
    postgres, smtp_server, initiator, service, settings
):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "DELIVERY_SESSIONS": 4}
    for n in range(12):
        incident_report(initiator=initiator, title=f"Printer {n} jammed", description="Jam",
                        service=service, impact=3, urgency=3)  # fmt: skip
    smtp_server.answers["Printer 5 jammed"] = "451 4.7.1 Greylisted, try again later"
    first, *also = emails().values_list("pk", flat=True)
    rows = list(emails())
    notification_deliver(notification_id=first, also=also, drain=0)
    # Rows are dealt to the lanes in turn: the lane of row 5 had row 9 still to send.
    greylisted, untried = rows[5], rows[9]
    greylisted.refresh_from_db()
    untried.refresh_from_db()
    assert greylisted.status == "pending" and greylisted.attempts == 1
    assert "451" in greylisted.last_error and greylisted.next_attempt_at > timezone.now()
    assert untried.status == "pending" and untried.attempts == 0
    # Nothing stays claimed: what was not tried may be sent by the next task at once.
    assert not emails(claimed_until__isnull=False).exists()
    assert not emails(status="failed").exists()
    assert emails(status="sent").count() == len(smtp_server.messages) <= 10


def claimed(**fields) -> ClaimedEmail:
    return ClaimedEmail(**{
        "pk": 7, "attempts": 0, "subject": "[INC0000001] Printer jammed",
        "body": "Hello Ivy,\n\nIt jams.", "body_html": "<p>Hello Ivy,</p>\n<p>It jams.</p>",
        "incident_id": 1, "incident_number": "INC0000001", "recipient_id": 1,
        "recipient_email": "ivy@example.com", **fields,
    })  # fmt: skip


@pytest.mark.parametrize(
    "row",
    [
        claimed(),
        claimed(subject="[INC0000002] Drucker klemmt, Größe A4 " + " ".join(["sehr lang"] * 12),
                body="Grüße\r\nzweite Zeile\rdritte\n\n. a dot line", body_html="<p>Grüße</p>"),
        claimed(body_html=""),
        claimed(recipient_email="Ivy Ünal <ivy@example.com>"),
    ],
    ids=["plain", "international", "text-only", "international-name"],
)  # fmt: skip
def test_the_message_written_for_smtp_reads_as_djangos(row):
    ours = message_from_bytes(email_bytes(row=row, thread_root_id="<n.3@x>"), policy=default)
    django = message_from_bytes(
        email_build(row=row, thread_root_id="<n.3@x>").message().as_bytes(linesep="\r\n"),
        policy=default,
    )
    for header in ["Subject", "From", "To", "Message-ID", "In-Reply-To", "References",
                   "X-Portal-Incident", "MIME-Version", "Content-Type"]:  # fmt: skip
        # (Django folds a long encoded subject onto a line of its own: a leading space.)
        assert str(ours[header]).split(";")[0] == str(django[header]).split(";")[0].strip()
    assert ours.get_body(("plain",)).get_content() == django.get_body(("plain",)).get_content()
    if row.body_html:
        assert ours.get_body(("html",)).get_content() == django.get_body(("html",)).get_content()


def test_a_line_too_long_for_8_bit_goes_the_libraries_way_and_arrives_whole(incident, smtp_server):
    long_line = "x" * 2000
    row = emails().get()
    Notification.objects.filter(pk=row.pk).update(body=f"Log:\n{long_line}\nEnd")
    assert email_bytes(row=claimed(body=long_line), thread_root_id=None) is None
    (attempt,) = notification_deliver(notification_id=row.pk)
    assert attempt.outcome == "sent"
    (message,) = smtp_server.messages
    assert long_line in message.get_body(("plain",)).get_content()
    assert message["Message-ID"] == row.message_id
