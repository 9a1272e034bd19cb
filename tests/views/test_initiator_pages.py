"""The initiator's pages: report, my incidents, the status page and what it lets them do."""

import pytest
from django.urls import reverse

from incidents.models import Escalation, Incident, TimelineEntry
from tests.e2e.process import escalated, reported, requested
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def status_url(incident):
    return reverse("my-incident", args=[incident.number])


def action_url(incident, action):
    return reverse("my-incident-action", args=[incident.number, action])


@pytest.fixture
def ivy(client, initiator):
    client.force_login(initiator)
    return client


# --- report ------------------------------------------------------------------------


def test_reporting_asks_plain_questions_and_opens_the_status_page(ivy, initiator, service):
    form = ivy.get(reverse("incident-report")).content.decode()
    assert "How many people are affected?" in form
    assert "How soon does it stop your work?" in form

    response = ivy.post(
        reverse("incident-report"),
        {
            "title": "Cannot send mail",
            "description": "Outbox stuck since 9:00",
            "service": service.pk,
            "impact": 1,
            "urgency": 1,
        },
    )
    incident = Incident.objects.get(initiator=initiator)
    assert response["Location"] == status_url(incident)
    assert incident.priority == 1
    page = ivy.get(status_url(incident)).content.decode()
    assert "Cannot send mail" in page
    assert "We have your report" in page


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", "   "), ("description", ""), ("service", "999"), ("impact", "7"), ("urgency", "")],
)
def test_a_bad_report_shows_the_error_inline_and_creates_nothing(ivy, service, field, value):
    data = {
        "title": "Printer",
        "description": "Jammed",
        "service": service.pk,
        "impact": 2,
        "urgency": 2,
        field: value,
    }
    response = ivy.post(reverse("incident-report"), data)
    assert response.status_code == 400
    assert "is-invalid" in response.content.decode()
    assert not Incident.objects.exists()


def test_the_report_form_needs_a_login(client):
    response = client.get(reverse("incident-report"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- my incidents -------------------------------------------------------------------


def test_my_incidents_lists_only_mine_with_their_escalation_stage(
    ivy, initiator, other_initiator, support_user, service
):
    mine = reported(initiator=initiator, service=service, title="My mail", support=support_user)
    requested(incident=mine, initiator=initiator)
    reported(initiator=other_initiator, service=service, title="Oscar's printer")
    html = ivy.get(reverse("my-incidents")).content.decode()
    assert "My mail" in html
    assert "Awaiting entitlement check" in html
    assert "Oscar&#x27;s printer" not in html and "Oscar's printer" not in html


def test_my_incidents_filters_open_and_closed(ivy, initiator, service):
    IncidentFactory(initiator=initiator, service=service, title="Still broken")
    IncidentFactory(initiator=initiator, service=service, title="Long gone", status="closed")
    open_page = ivy.get(reverse("my-incidents"), {"show": "open"}).content.decode()
    closed_page = ivy.get(reverse("my-incidents"), {"show": "closed"}).content.decode()
    assert "Still broken" in open_page and "Long gone" not in open_page
    assert "Long gone" in closed_page and "Still broken" not in closed_page
    assert ivy.get(reverse("my-incidents"), {"show": "bogus", "page": "x"}).status_code == 200


@pytest.mark.parametrize("count", [10, 200])
def test_my_incidents_runs_a_fixed_number_of_queries(
    client, initiator, service, support_user, django_assert_max_num_queries, count
):
    for n in range(count):
        incident = reported(initiator=initiator, service=service, title=f"Incident {n}")
        if n % 3 == 0:
            requested(incident=incident, initiator=initiator)
    client.force_login(initiator)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("my-incidents"))
    assert response.status_code == 200
    assert response.content.decode().count('class="list-group-item') == min(count, 20)


# --- the status page ------------------------------------------------------------------


def test_someone_elses_incident_is_a_404_everywhere(client, other_initiator, initiator, service):
    incident = reported(initiator=initiator, service=service)
    client.force_login(other_initiator)
    assert client.get(status_url(incident)).status_code == 404
    for action, data in [
        ("escalate", {"escalate-reason": "Mine now"}),
        ("close", {}),
        ("reopen", {"reopen-reason": "x"}),
        ("comment", {"comment-comment": "Hello"}),
    ]:
        assert client.post(action_url(incident, action), data).status_code == 404
    assert not Escalation.objects.exists()
    assert not incident.timeline.filter(kind=TimelineEntry.Kind.PROGRESS).exists()


def test_an_unknown_number_or_action_is_a_404(ivy, initiator, service):
    incident = reported(initiator=initiator, service=service)
    assert ivy.get(reverse("my-incident", args=["INC9999999"])).status_code == 404
    assert ivy.post(action_url(incident, "delete")).status_code == 404


def test_the_status_page_shows_only_the_public_timeline_and_my_notifications(
    ivy, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    TimelineEntry.objects.create(
        incident=incident, kind="progress", note="Internal: blame the vendor", public=False
    )
    TimelineEntry.objects.create(
        incident=incident, kind="progress", note="We are restarting the server", public=True
    )
    html = ivy.get(status_url(incident)).content.decode()
    assert "We are restarting the server" in html
    assert "blame the vendor" not in html
    # The receipt sent on reporting is listed under the messages sent to me.
    assert incident.notifications.filter(recipient=initiator, channel="in_app").exists()
    subject = incident.notifications.filter(recipient=initiator).first().subject
    assert subject in html


def test_state_changes_are_posts(ivy, initiator, service):
    incident = reported(initiator=initiator, service=service)
    assert ivy.get(action_url(incident, "escalate")).status_code == 405


def test_the_csrf_token_is_required(initiator, service):
    from django.test import Client

    incident = reported(initiator=initiator, service=service)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(initiator)
    response = strict.post(action_url(incident, "escalate"), {"escalate-reason": "Please"})
    assert response.status_code == 403
    assert not Escalation.objects.exists()


# --- ask for an escalation -------------------------------------------------------------


def test_asking_for_an_escalation_puts_it_in_the_check_and_says_so(
    ivy, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    response = ivy.post(action_url(incident, "escalate"), {"escalate-reason": "Board meeting"})
    assert response.status_code == 302
    case = Escalation.objects.get(incident=incident)
    assert case.state == Escalation.State.REQUESTED
    html = ivy.get(status_url(incident)).content.decode()
    assert "The service desk is checking it" in html
    assert "An escalation is already under way" in html
    assert "disabled" in html


def test_asking_without_a_reason_shows_the_error_and_changes_nothing(
    ivy, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    response = ivy.post(action_url(incident, "escalate"), {"escalate-reason": "   "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Escalation.objects.exists()


def test_asking_twice_is_refused_with_the_reason_never_a_500(
    ivy, client, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    escalated(incident=incident, initiator=initiator, support=support_user)
    response = ivy.post(action_url(incident, "escalate"), {"escalate-reason": "Again"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Nothing was changed." in html
    assert "already under way" in html
    assert "Your incident has been escalated." in html  # and where it stands now
    assert Escalation.objects.count() == 1


def test_a_resolved_incident_cannot_be_escalated_and_says_why(
    ivy, initiator, support_user, service
):
    incident = IncidentFactory(initiator=initiator, service=service, status="resolved")
    html = ivy.get(status_url(incident)).content.decode()
    assert "no longer open" in html
    assert 'disabled aria-describedby="escalation-blocker"' in html


# --- confirm resolved / reopen / comment -----------------------------------------------


def test_confirm_resolved_and_reopen_are_offered_only_when_resolved(ivy, initiator, service):
    incident = IncidentFactory(initiator=initiator, service=service, status="in_progress")
    html = ivy.get(status_url(incident)).content.decode()
    assert "Confirm resolved" not in html and ">Reopen<" not in html
    Incident.objects.filter(pk=incident.pk).update(status="resolved")
    html = ivy.get(status_url(incident)).content.decode()
    assert "Confirm resolved" in html and ">Reopen<" in html


def test_confirming_resolved_closes_the_incident(ivy, initiator, service):
    incident = IncidentFactory(initiator=initiator, service=service, status="resolved")
    response = ivy.post(action_url(incident, "close"), {"close-seen_state": "resolved"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == Incident.Status.CLOSED
    assert "This incident is closed." in ivy.get(status_url(incident)).content.decode()


def test_confirming_after_someone_else_reopened_says_the_incident_changed(ivy, initiator, service):
    incident = IncidentFactory(initiator=initiator, service=service, status="in_progress")
    response = ivy.post(action_url(incident, "close"), {"close-seen_state": "resolved"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "This incident changed while you were looking" in html
    assert "Support is working on your incident." in html
    incident.refresh_from_db()
    assert incident.status == Incident.Status.IN_PROGRESS


def test_reopening_needs_a_reason(ivy, initiator, service):
    incident = IncidentFactory(initiator=initiator, service=service, status="resolved")
    response = ivy.post(action_url(incident, "reopen"), {"reopen-reason": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED

    ivy.post(action_url(incident, "reopen"), {"reopen-reason": "Still bouncing"})
    incident.refresh_from_db()
    assert incident.status == Incident.Status.IN_PROGRESS


def test_a_message_lands_on_the_public_timeline(ivy, initiator, service):
    incident = reported(initiator=initiator, service=service)
    ivy.post(action_url(incident, "comment"), {"comment-comment": "It happens on Wi-Fi only"})
    assert "It happens on Wi-Fi only" in ivy.get(status_url(incident)).content.decode()
    response = ivy.post(action_url(incident, "comment"), {"comment-comment": " "})
    assert response.status_code == 400
    assert incident.timeline.filter(kind="progress").count() == 1


def test_an_escalated_incident_shows_when_the_next_update_is_promised(
    ivy, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    assert 'id="next-update"' not in ivy.get(status_url(incident)).content.decode()
    escalated(incident=incident, initiator=initiator, support=support_user)
    assert "promised the next update by" in ivy.get(status_url(incident)).content.decode()


def stage_steps(html: str) -> list[str]:
    """The escalation progress steps as the status page shows them, current one marked."""
    steps = html[html.index('aria-label="Escalation progress"') :]
    steps = steps[: steps.index("</ol>")]
    out = []
    for item in steps.split("<li")[1:]:
        text = item.split(">", 1)[1].split("</li>", 1)[0]
        label = text.replace('<span aria-hidden="true">✓ </span>', "✓ ")
        label = label.replace('<span class="visually-hidden"> (current step)</span>', " ←")
        out.append(label.strip())
    return out


def test_the_progress_steps_show_the_path_it_took_at_risk_then_asked_for(
    ivy, initiator, support_user, service
):
    from incidents.services.escalations import escalation_flag_imminent, escalation_request

    incident = reported(initiator=initiator, service=service, support=support_user)
    escalation_flag_imminent(incident=incident, actor=support_user, reason="Slipping")
    assert stage_steps(ivy.get(status_url(incident)).content.decode()) == [
        "At risk ←", "Checked", "Escalated", "Plan approved", "Deescalated",
    ]  # fmt: skip

    escalation_request(incident=incident, actor=initiator, reason="Payroll deadline")
    assert stage_steps(ivy.get(status_url(incident)).content.decode()) == [
        "✓ Asked for", "Checked ←", "Escalated", "Plan approved", "Deescalated",
    ]  # fmt: skip


def test_a_major_incident_nobody_asked_for_shows_no_asking_or_checking_step(
    ivy, initiator, support_user, manager_user, service
):
    from tests.e2e.process import major

    incident = reported(initiator=initiator, service=service, support=support_user)
    major(incident=incident, support=support_user)
    assert stage_steps(ivy.get(status_url(incident)).content.decode()) == [
        "Major incident ←", "Plan approved", "Deescalated",
    ]  # fmt: skip


def test_an_escalation_asked_for_and_escalated_shows_every_step_done_so_far(
    ivy, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    escalated(incident=incident, initiator=initiator, support=support_user)
    assert stage_steps(ivy.get(status_url(incident)).content.decode()) == [
        "✓ Asked for", "✓ Checked", "Escalated ←", "Plan approved", "Deescalated",
    ]  # fmt: skip
