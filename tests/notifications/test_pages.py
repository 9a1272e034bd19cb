"""The bell, the inbox, preferences, the staff outbox and the development mail viewer."""

import pytest

from incidents.models import Incident
from incidents.services.escalations import escalation_reject, escalation_request
from notifications.models import Notification
from notifications.selectors import notification_list_for_incident
from notifications.services import notification_deliver
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(initiator, service):
    return IncidentFactory(initiator=initiator, service=service, status=Incident.Status.IN_PROGRESS)


def test_the_bell_counts_unread_and_the_inbox_lists_them(client, initiator, incident):
    escalation_request(incident=incident, actor=initiator, reason="Still down")
    client.force_login(initiator)
    page = client.get("/notifications/").content.decode()
    assert 'data-unread="2"' in page
    assert f"[{incident.number}] Your escalation request was received" in page


def test_marking_one_and_all_as_read(client, initiator, incident):
    escalation_request(incident=incident, actor=initiator, reason="Still down")
    client.force_login(initiator)
    first = Notification.objects.filter(recipient=initiator, channel="in_app").first()
    client.post(f"/notifications/{first.pk}/read/")
    assert 'data-unread="1"' in client.get("/notifications/").content.decode()
    client.post("/notifications/read-all/")
    assert "data-unread" not in client.get("/notifications/").content.decode()


def test_opening_a_notification_marks_it_read_and_goes_to_the_status_page(
    client, initiator, incident
):
    row = Notification.objects.get(recipient=initiator, channel="in_app")
    client.force_login(initiator)
    response = client.post(f"/notifications/{row.pk}/read/", {"open": "1"})
    assert response.url == f"/my/incidents/{incident.number}/"
    row.refresh_from_db()
    assert row.read_at is not None


def test_nobody_marks_someone_elses_notification(client, other_initiator, incident):
    row = Notification.objects.get(channel="in_app")
    client.force_login(other_initiator)
    assert client.post(f"/notifications/{row.pk}/read/").status_code == 404


def test_preferences_turn_one_kind_of_email_off(client, initiator, service):
    client.force_login(initiator)
    page = client.get("/notifications/preferences/").content.decode()
    assert "Receipt for a new incident" in page
    assert "A deescalation activity is yours" not in page  # staff-only event
    response = client.post("/notifications/preferences/", {"email_events": ["escalation_rejected"]})
    assert response.status_code == 302
    IncidentFactory(initiator=initiator, service=service)
    assert not Notification.objects.filter(channel="email", recipient=initiator).exists()


def test_failed_emails_are_visible_to_staff_with_the_error_and_can_be_resent(
    client, support_user, initiator, incident
):
    row = Notification.objects.get(channel="email")
    Notification.objects.filter(pk=row.pk).update(
        status="failed", attempts=1, last_error="attempt 1: 550 mailbox unavailable"
    )
    client.force_login(support_user)
    page = client.get("/notifications/outbox/").content.decode()
    assert "550 mailbox unavailable" in page and incident.number in page
    client.post(f"/notifications/outbox/{row.pk}/resend/")
    row.refresh_from_db()
    assert row.status == "pending"


def test_initiators_cannot_see_the_outbox(client, initiator):
    client.force_login(initiator)
    assert client.get("/notifications/outbox/").status_code == 302


def test_staff_read_development_mail_files(client, support_user, incident, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    notification_deliver(notification_id=Notification.objects.get(channel="email").pk)
    client.force_login(support_user)
    listing = client.get("/notifications/mail/").content.decode()
    assert incident.number in listing and "ivy@example.com" in listing
    (name,) = [p.name for p in tmp_path.iterdir()]
    detail = client.get(f"/notifications/mail/{name}/").content.decode()
    assert "Message-ID: &lt;notification." in detail
    assert client.get("/notifications/mail/..%2Fsecret.log/").status_code == 404


def test_the_status_page_selector_lists_what_the_initiator_was_sent(
    initiator, support_user, incident
):
    case = escalation_request(incident=incident, actor=initiator, reason="Still down")
    escalation_reject(escalation=case, actor=support_user, reason="Within targets")
    rows = list(notification_list_for_incident(incident=incident, user=initiator))
    assert [r.event for r in rows] == [
        "incident_reported", "escalation_requested", "escalation_rejected",
    ]  # fmt: skip
    assert {r.email_status for r in rows} == {"pending"}
    assert notification_list_for_incident(incident=incident, user=support_user).count() == 1
