"""`manage.py seed_demo`: a demo where every state of the process can be seen and tried."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from incidents.models import (
    ACTIVE_STATES,
    DeescalationActivity,
    Escalation,
    Incident,
    Stakeholder,
    StakeholderNotice,
    TimelineEntry,
)
from incidents.services.sla_monitor import sla_monitor_run
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def _counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "incidents": Incident.objects.count(),
        "escalations": Escalation.objects.count(),
        "timeline": TimelineEntry.objects.count(),
        "notifications": Notification.objects.count(),
    }


def test_demo_shows_every_state_lets_everyone_log_in_and_loads_once(debug, client):
    printed = _seed()

    assert set(Incident.objects.values_list("status", flat=True)) == set(Incident.Status.values)
    assert set(Escalation.objects.values_list("state", flat=True)) == set(Escalation.State.values)
    assert 45 <= Incident.objects.count() <= 60
    # Made through the services: every incident has its history and its number.
    assert not Incident.objects.filter(number__isnull=True).exists()
    assert not Incident.objects.filter(timeline__isnull=True).exists()
    assert not Incident.objects.filter(created_at__gt=timezone.now()).exists()

    for username in ("initiator", "support", "manager", "operations", "admin"):
        assert username in printed
        response = client.post(reverse("login"), {"username": username, "password": "demo12345"})
        assert response.status_code == 302, f"{username} cannot log in"
        client.logout()
    assert "demo12345" in printed
    assert get_user_model().objects.get(username="admin").is_superuser

    # IT operations have someone to escalate a major incident to, and did so in the story.
    assert Stakeholder.objects.filter(active=True).count() >= 2
    assert StakeholderNotice.objects.exists()

    # Each staff login finds an open deescalation activity of their own to complete.
    for username in ("support", "operations"):
        assert DeescalationActivity.objects.filter(
            owner__username=username, status="open", plan__escalation__state="deescalating"
        ).exists(), f"{username} has no activity to try"

    before = _counts()
    again = _seed("--if-empty")
    assert _counts() == before
    assert "already loaded" in again


def test_the_sla_monitor_raises_imminent_escalations_within_minutes(debug):
    _seed()
    sla_monitor_run()  # the first run after loading catches up, as after an outage
    quiet = set(
        Incident.objects.open()
        .exclude(escalations__state__in=ACTIVE_STATES)
        .values_list("pk", flat=True)
    )

    # P1 warnings page at any hour, so this holds whenever the test runs.
    sla_monitor_run(now=timezone.now() + timedelta(minutes=10))

    flagged = Escalation.objects.filter(
        incident__in=quiet, state=Escalation.State.IMMINENT, source=Escalation.Source.SLA_MONITOR
    )
    assert flagged.count() >= 2


def test_refuses_without_debug_unless_forced(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG off"):
        _seed()
    assert not Incident.objects.exists()
    assert not get_user_model().objects.filter(username="initiator").exists()

    _seed("--force")
    assert Incident.objects.exists()


def test_a_second_run_without_if_empty_refuses_instead_of_doubling(debug):
    get_user_model().objects.create_user("initiator", password="x")

    with pytest.raises(CommandError, match="already exist"):
        _seed()
    assert not Incident.objects.exists()


def test_the_demo_e_mails_link_where_make_run_serves(debug, monkeypatch):
    # seed_demo renders its e-mails before runall starts; with ADDRPORT changed and no
    # SITE_URL, their links must point at the port that will answer.
    monkeypatch.delenv("SITE_URL", raising=False)
    _seed("--addrport", "127.0.0.1:8123")
    bodies = Notification.objects.filter(channel="email").values_list("body", flat=True)
    links = [line for body in bodies for line in body.splitlines() if "://" in line]
    assert links, "the demo queues e-mails with links"
    assert all(link.strip().startswith("http://127.0.0.1:8123/") for link in links), links
