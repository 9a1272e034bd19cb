"""A real Celery worker on a real Redis delivering to a real SMTP server, with faults."""

import os
import signal
import time
from collections import Counter

import pytest
from django.db import transaction

from incidents.models import Incident
from incidents.services.escalations import escalation_request
from incidents.services.incidents import incident_report, incident_resolve
from notifications.models import Notification
from notifications.services import notification_preferences_update
from tests.factories import IncidentFactory

from .conftest import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.redis,
    pytest.mark.postgres,
    # The worker shares the database, so changes must really commit; the role groups of the
    # data migration are restored after each test.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    # Under pytest-xdist these start processes one at a time, on one xdist worker.
    pytest.mark.xdist_group("processes"),
]


def sent_count() -> int:
    return Notification.objects.filter(channel="email", status="sent").count()


def email_rows():
    return Notification.objects.filter(channel="email").order_by("pk")


def report(initiator, service, title="Mail is down"):
    return incident_report(initiator=initiator, title=title, description="Since 9:00",
                           service=service, impact=2, urgency=2)  # fmt: skip


def test_the_message_arrives_with_recipient_subject_body_and_threading(
    test_broker, smtp_server, start_worker, initiator, support_user, service
):
    handler, port = smtp_server
    start_worker(broker_url=test_broker.url, smtp_port=port)
    incident = report(initiator, service)
    Incident.objects.filter(pk=incident.pk).update(status=Incident.Status.IN_PROGRESS)  # set-up
    incident.refresh_from_db()
    escalation_request(incident=incident, actor=initiator, reason="Still down at noon")

    wait_for(lambda: len(handler.messages) == 3, timeout=15, what="three messages")
    # The server has a message before the worker hears its 250 and marks the row sent.
    wait_for(lambda: sent_count() == 3, timeout=10, what="the worker to mark all three sent")
    by_id = {m["Message-ID"]: (rcpt, m) for rcpt, m in handler.messages}
    receipt, request, alert = email_rows()
    assert set(by_id) == {receipt.message_id, request.message_id, alert.message_id}

    rcpt, first = by_id[receipt.message_id]
    assert rcpt == ["ivy@example.com"]
    assert first["Subject"] == f"[{incident.number}] We received your incident: Mail is down"
    assert first["In-Reply-To"] is None
    text = first.get_body(("plain",)).get_content()
    assert f"/my/incidents/{incident.number}/" in text

    rcpt, second = by_id[request.message_id]
    assert rcpt == ["ivy@example.com"]
    assert "escalation request was received" in second["Subject"]
    assert second["In-Reply-To"] == second["References"] == receipt.message_id
    assert "Still down at noon" in second.get_body(("html",)).get_content()

    rcpt, to_support = by_id[alert.message_id]
    assert rcpt == ["sam@example.com"]
    assert f"/incidents/{incident.number}/" in to_support.get_body(("plain",)).get_content()
    assert to_support["In-Reply-To"] is None  # Sam's first message about this incident
    assert len(handler.messages) == 3


def test_redis_down_while_100_changes_commit_then_the_sweeper_delivers_them_once(
    test_broker, smtp_server, start_worker, initiator, support_user, service
):
    handler, port = smtp_server
    start_worker(broker_url=test_broker.url, smtp_port=port)
    notification_preferences_update(user=initiator, muted_events=["incident_reported"])
    incidents = [
        IncidentFactory(initiator=initiator, service=service, status=Incident.Status.IN_PROGRESS)
        for _ in range(100)
    ]
    test_broker.stop()

    durations = []
    for incident in incidents:
        started = time.perf_counter()
        incident_resolve(incident=incident, actor=support_user, note="Restarted the server")
        durations.append(time.perf_counter() - started)
    assert max(durations) < 1.0, f"slowest change took {max(durations):.2f} s"
    assert email_rows().filter(status="pending").count() == 100

    test_broker.start()
    wait_for(lambda: sent_count() == 100, timeout=45, what="the sweeper to deliver all 100")
    ids = handler.message_ids()
    assert len(ids) == 100 and len(set(ids)) == 100, Counter(ids).most_common(3)


def test_kill_9_of_a_pool_child_mid_burst_loses_nothing_and_sends_nothing_twice(
    test_broker, smtp_server, start_worker, initiator, service
):
    handler, port = smtp_server
    worker = start_worker(broker_url=test_broker.url, smtp_port=port)
    with transaction.atomic():  # one commit: a burst of 200 e-mails
        for n in range(200):
            report(initiator, service, title=f"Printer {n} jammed")

    wait_for(lambda: len(handler.messages) >= 40, timeout=20, what="the burst to be under way")
    # Kill a child while the server holds its messages, before they are accepted: its task
    # must come back (reject_on_worker_lost) and every message be sent exactly once. The
    # child sends over several sessions at once, so the server holds every message for a
    # while, and the kill waits until each message the server accepted before is marked
    # sent: then no lane of the child is between the server's acceptance and the sent
    # mark (a crash there is the one case that sends twice, docs/notifications.md).
    handler.hold_for(6.0)
    assert handler.holding.wait(10)
    wait_for(lambda: sent_count() == len(handler.messages), timeout=5,
             what="every accepted message to be marked sent")  # fmt: skip
    victim = worker.child_with_local_port(handler.held_peers[0][1])
    assert victim is not None, "no pool child holds the SMTP connection"
    assert handler.holding_left() > 1, "the machine was too slow to kill within the hold"
    os.kill(victim, signal.SIGKILL)

    wait_for(lambda: sent_count() == 200, timeout=60, what="all 200 to be delivered")
    ids = handler.message_ids()
    assert len(ids) == 200 and len(set(ids)) == 200, Counter(ids).most_common(3)
    wait_for(lambda: f"pid:{victim} exited with 'signal 9" in worker.log.read_text(),
             timeout=5, what="the worker to report its lost child")  # fmt: skip


def test_451_is_retried_then_delivered(test_broker, smtp_server, start_worker, initiator, service):
    handler, port = smtp_server
    handler.answers["Greylisted"] = ["451 4.7.1 Greylisted, try again later"] * 2
    start_worker(broker_url=test_broker.url, smtp_port=port)
    report(initiator, service, title="Greylisted")
    wait_for(lambda: sent_count() == 1, timeout=20, what="the retried delivery")
    (row,) = email_rows()
    assert row.attempts == 3 and row.last_error == ""
    assert len(handler.messages) == 1


def test_550_fails_after_one_attempt_and_staff_see_it(
    test_broker, smtp_server, start_worker, initiator, support_user, service, client
):
    handler, port = smtp_server
    handler.answers["Bounce"] = ["550 5.1.1 No such user"] * 5
    worker = start_worker(broker_url=test_broker.url, smtp_port=port)
    incident = report(initiator, service, title="Bounce")
    wait_for(lambda: email_rows().filter(status="failed").exists(), timeout=15, what="failure")
    wait_for(lambda: worker.finished("notifications.tasks.deliver_notification") == 1,
             timeout=10, what="the delivery task to finish")  # fmt: skip
    # Proof that a sweep ran late enough to take the failed row had it still been pending
    # (and that a retry had its time): a pending row due after it, which no delivery task
    # is left to drain, so only the sweeper sends it.
    canary = Notification.objects.create(
        recipient=support_user, channel="email", event="incident_reported", incident=incident,
        subject="Canary", body="Sent by the sweeper", idempotency_key="canary",
    )  # fmt: skip
    wait_for(lambda: sent_count() == 1, timeout=20, what="the sweeper to send the canary")
    (row,) = email_rows().exclude(pk=canary.pk)
    assert row.status == "failed" and row.attempts == 1 and "550" in row.last_error
    assert [m["Subject"] for _, m in handler.messages] == ["Canary"]
    client.force_login(support_user)
    page = client.get("/notifications/outbox/?status=failed").content.decode()
    assert incident.number in page and "No such user" in page


def test_a_server_that_never_greets_times_out_and_other_mail_keeps_flowing(
    test_broker, smtp_server, silent_front, start_worker, initiator, other_initiator, service
):
    handler, _ = smtp_server
    silent_front.silent_next = 1
    start_worker(broker_url=test_broker.url, smtp_port=silent_front.port, EMAIL_TIMEOUT="1")
    started = time.monotonic()
    stuck = report(initiator, service, title="First, meets the silent server")
    wait_for(lambda: email_rows().filter(attempts=1).exists(), timeout=10, what="an attempt")
    for n in range(3):
        report(other_initiator, service, title=f"Flowing {n}")
    wait_for(lambda: sent_count() == 4, timeout=20, what="every message, the stuck one too")
    first = email_rows().get(incident=stuck)
    assert first.attempts == 2
    assert time.monotonic() - started < 15
    assert len(handler.messages) == 4 and len(set(handler.message_ids())) == 4
