"""The IT operations queue and the major-incident workspace."""

import pytest
from django.urls import reverse

from incidents.models import Escalation, OperationsLog
from tests.e2e.process import escalated, major, reported

pytestmark = pytest.mark.django_db
S = Escalation.State


@pytest.fixture
def case(initiator, support_user, service):
    incident = reported(
        initiator=initiator, service=service, support=support_user, title="Checkout down"
    )
    return major(incident=incident, support=support_user)


@pytest.fixture
def otto(client, operations_user):
    client.force_login(operations_user)
    return client


def act(case, action):
    return reverse("operations-action", args=[case.incident.number, action])


def page(case):
    return reverse("operations-incident", args=[case.incident.number])


@pytest.mark.parametrize("who", ["initiator", "support_user", "manager_user"])
def test_operations_pages_are_for_it_operations_only(client, request, case, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("operations-queue")).status_code == 403
    assert client.get(page(case)).status_code == 403
    assert client.post(act(case, "acknowledge"), {}).status_code == 403
    assert Escalation.objects.get(pk=case.pk).acknowledged_at is None


def test_the_queue_shows_unacknowledged_majors_first_with_their_age(otto, case, operations_user):
    html = otto.get(reverse("operations-queue")).content.decode()
    assert "Checkout down" in html
    assert "Not acknowledged" in html
    assert "1 not acknowledged" in html
    response = otto.post(
        act(case, "acknowledge"), {"acknowledge-seen_state": "major", "back": "queue"}
    )
    assert response["Location"] == reverse("operations-queue")
    html = otto.get(reverse("operations-queue")).content.decode()
    assert "Acknowledged by Otto" in html
    assert "within a minute of classification" in html  # not "0 minutes after"
    assert "0 not acknowledged" in html


def test_acknowledging_twice_is_refused_not_a_500(otto, case):
    otto.post(act(case, "acknowledge"), {"acknowledge-seen_state": "major"})
    response = otto.post(act(case, "acknowledge"), {"acknowledge-seen_state": "major"})
    assert response.status_code == 409
    assert "already acknowledged" in response.content.decode()
    assert OperationsLog.objects.filter(kind="acknowledged").count() == 1


def test_the_workspace_offers_what_the_state_machine_allows(otto, case):
    html = otto.get(page(case)).content.decode()
    assert ">Acknowledge<" in html
    assert "Escalate further" not in html and "Hand over for deescalation" not in html
    otto.post(act(case, "acknowledge"), {"acknowledge-seen_state": "major"})
    html = otto.get(page(case)).content.decode()
    assert ">Acknowledge<" not in html
    assert "Escalate further" in html and "Log action" in html and "Hand over" in html


def test_escalating_further_needs_stakeholders_and_a_note(otto, case):
    otto.post(act(case, "acknowledge"), {"acknowledge-seen_state": "major"})
    for data, error in (
        ({"escalate_further-others": "", "escalate_further-note": "x"}, "Choose at least one"),
        ({"escalate_further-others": "CIO", "escalate_further-note": "  "}, "is-invalid"),
    ):
        response = otto.post(act(case, "escalate_further"), data)
        assert response.status_code == 400
        assert error in response.content.decode()
    assert Escalation.objects.get(pk=case.pk).level == 1
    otto.post(
        act(case, "escalate_further"),
        {"escalate_further-others": "CIO", "escalate_further-note": "Revenue hit"},
    )
    assert Escalation.objects.get(pk=case.pk).level == 2
    assert "CIO" in otto.get(page(case)).content.decode()


def test_log_an_action_and_hand_over(otto, case, manager_user, client):
    otto.post(act(case, "acknowledge"), {"acknowledge-seen_state": "major"})
    assert otto.post(act(case, "log_action"), {"log_action-note": ""}).status_code == 400
    otto.post(act(case, "log_action"), {"log_action-note": "Restarted the load balancer"})
    assert "Restarted the load balancer" in otto.get(page(case)).content.decode()
    assert otto.post(act(case, "hand_over"), {"hand_over-note": ""}).status_code == 400
    otto.post(act(case, "hand_over"), {"hand_over-note": "Stable on the standby"})
    assert Escalation.objects.get(pk=case.pk).state == S.ESCALATED
    html = otto.get(reverse("operations-queue")).content.decode()
    assert "Recently handed over" in html
    client.force_login(manager_user)
    board = client.get(reverse("manager-board")).content.decode()
    assert "Checkout down" in board.split('id="waiting_for_plan"')[1].split("</section>")[0]


def test_a_stale_page_after_hand_over_says_the_incident_changed(otto, case):
    otto.post(act(case, "acknowledge"), {"acknowledge-seen_state": "major"})
    otto.post(act(case, "hand_over"), {"hand_over-note": "Stable"})
    response = otto.post(
        act(case, "log_action"), {"log_action-note": "Late note", "log_action-seen_state": "major"}
    )
    assert response.status_code == 409
    assert "This incident changed while you were looking" in response.content.decode()


def test_a_status_update_from_operations(otto, case):
    response = otto.post(act(case, "status_update"), {"status_update-message": "Fix at 16:00"})
    assert response.status_code == 302
    assert case.incident.timeline.filter(kind="status_update", public=True).exists()


def test_an_escalation_that_is_not_major_shows_nothing_to_do(
    otto, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    case = escalated(incident=incident, initiator=initiator, support=support_user)
    assert "nothing for IT operations to do" in otto.get(page(case)).content.decode()
    assert otto.post(act(case, "nope")).status_code == 404


@pytest.mark.parametrize("count", [10, 200])
def test_the_queue_runs_a_fixed_number_of_queries(
    client,
    initiator,
    support_user,
    operations_user,
    service,
    django_assert_max_num_queries,
    count,
):
    for n in range(count):
        incident = reported(initiator=initiator, service=service, title=f"Incident {n}")
        if n % 5 == 0:
            major(
                incident=incident,
                support=support_user,
                acknowledged_by=operations_user if n % 10 == 0 else None,
            )
    client.force_login(operations_user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("operations-queue"))
    assert response.status_code == 200
    assert response.content.decode().count("<tr") == count // 5 + 1


def test_an_acknowledgement_by_a_removed_account_still_shows(otto, case, support_user):
    otto.post(act(case, "acknowledge"), {"acknowledge-seen_state": "major"})
    Escalation.objects.filter(pk=case.pk).update(acknowledged_by=None)  # account deleted
    html = otto.get(reverse("operations-queue")).content.decode()
    assert "Acknowledged by someone" in html
    otto.force_login(support_user)
    staff_page = otto.get(reverse("incident-detail", args=[case.incident.number]))
    assert staff_page.status_code == 200
    assert "by someone" in staff_page.content.decode()


def test_an_absurd_impact_figure_is_refused_inline_not_a_500(otto, case):
    response = otto.post(
        act(case, "impact"),
        {"impact-users_affected": "99999999999999999999", "impact-services_affected": "1"},
    )
    assert response.status_code == 400
    assert "Ensure this value is less than or equal to" in response.content.decode()
    case.incident.refresh_from_db()
    assert getattr(case.incident, "impact_facts", None) is None
