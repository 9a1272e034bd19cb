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
    assert client.get("/notifications/outbox/").status_code == 403
    assert client.get("/notifications/mail/").status_code == 403
    client.logout()
    assert client.get("/notifications/outbox/")["Location"].startswith("/accounts/login/?next=")


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


def test_the_mail_viewer_reads_mail_as_a_mail_client_would(
    client, support_user, settings, tmp_path
):
    """Folded and encoded subjects whole, several messages of one file each listed, the text
    part decoded and the HTML part shown (sandboxed), not base64 or =?utf-8?b? words."""
    from django.core.mail import EmailMultiAlternatives, get_connection

    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    long_subject = (
        "[INC0000020] Escalation imminent: ERP order entry times out for the Hamburg team"
    )
    unicode_subject = "[INC0000052] We received your incident: Ünïcode — 打印机 broken"
    first = EmailMultiAlternatives(long_subject, "Plain body one.", to=["ivy@example.com"])
    second = EmailMultiAlternatives(unicode_subject, "Grüße, 打印机.", to=["ann@example.com"])
    second.attach_alternative("<p>Grüße <b>HTML</b></p>", "text/html")
    get_connection().send_messages([first, second])  # one connection: one file, two messages
    (name,) = [p.name for p in tmp_path.iterdir()]
    assert "=?utf-8?" in (tmp_path / name).read_text()  # what the file holds is encoded

    client.force_login(support_user)
    listing = client.get("/notifications/mail/").content.decode()
    assert long_subject in listing
    assert "Ünïcode — 打印机 broken" in listing
    assert listing.index("Ünïcode") < listing.index("Hamburg team")  # newest first
    assert "=?utf-8?" not in listing
    detail = client.get(f"/notifications/mail/{name}/").content.decode()
    assert 'id="mail-0"' in detail and 'id="mail-1"' in detail
    assert "Grüße, 打印机." in detail
    assert '<iframe class="w-100 border rounded mt-2" style="height: 24rem" sandbox' in detail
    assert "&lt;p&gt;Grüße &lt;b&gt;HTML&lt;/b&gt;&lt;/p&gt;" in detail  # srcdoc, escaped


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


def test_the_inbox_shows_only_unread_ones_when_asked_and_keeps_that_across_pages(
    client, initiator, incident
):
    escalation_request(incident=incident, actor=initiator, reason="Still down")
    first, second = Notification.objects.filter(recipient=initiator, channel="in_app")
    client.force_login(initiator)
    client.post(f"/notifications/{first.pk}/read/")

    unread = client.get("/notifications/", {"show": "unread"}).content.decode()
    assert f'id="notification-{second.pk}"' in unread
    assert f'id="notification-{first.pk}"' not in unread
    everything = client.get("/notifications/").content.decode()
    assert f'id="notification-{first.pk}"' in everything

    client.post("/notifications/read-all/")
    assert "Nothing unread." in client.get("/notifications/", {"show": "unread"}).content.decode()


def test_the_inbox_pages_keep_the_unread_filter(client, initiator, service):
    for n in range(14):  # two notifications each: over one page of 25
        case_incident = IncidentFactory(
            initiator=initiator, service=service, status=Incident.Status.IN_PROGRESS
        )
        escalation_request(incident=case_incident, actor=initiator, reason=f"Down {n}")
    client.force_login(initiator)
    page = client.get("/notifications/", {"show": "unread"}).content.decode()
    assert 'href="?show=unread&amp;page=2"' in page
