"""The forms issue 6 adds to the manager, operations, staff and status pages: per role, bad
input (inline, nothing changes), stale clicks (409) and what each person then sees."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from incidents.models import (
    DeescalationActivity,
    Escalation,
    IncidentImpact,
    IncidentLink,
    PostIncidentReview,
    Stakeholder,
    StakeholderNotice,
)
from incidents.services.deescalation import activity_complete
from incidents.services.operations import major_hand_over
from tests.e2e.process import deescalating, drafted, escalated, major, reported, submitted

pytestmark = pytest.mark.django_db
S = Escalation.State
CHANGED = "This incident changed while you were looking"


@pytest.fixture
def case(initiator, support_user, service):
    incident = reported(initiator=initiator, service=service, support=support_user)
    return escalated(incident=incident, initiator=initiator, support=support_user)


@pytest.fixture
def major_case(initiator, support_user, service, operations_user):
    incident = reported(initiator=initiator, service=service, support=support_user, title="Shop")
    return major(incident=incident, support=support_user, acknowledged_by=operations_user)


def as_user(client, user):
    client.force_login(user)
    return client


def m_act(case, action):
    return reverse("manager-action", args=[case.incident.number, action])


def o_act(case, action):
    return reverse("operations-action", args=[case.incident.number, action])


def m_page(case):
    return reverse("manager-incident", args=[case.incident.number])


def o_page(case):
    return reverse("operations-incident", args=[case.incident.number])


def _due(hours=3):
    return (timezone.localtime() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


# --- the manager workspace: next update, reorder, add, cancel, four-eyes -----------------


def test_the_workspace_says_when_the_next_update_is_due_and_when_it_is_late(
    client, case, manager_user
):
    html = as_user(client, manager_user).get(m_page(case)).content.decode()
    assert "Next update to the initiator due" in html
    # Long enough ago that waiting for office hours (a weekend, a holiday) is over too.
    Escalation.objects.filter(pk=case.pk).update(escalated_at=timezone.now() - timedelta(days=10))
    assert "The next update to the initiator is late" in client.get(m_page(case)).content.decode()


def test_reorder_with_the_arrow_buttons(client, case, manager_user, support_user):
    case = drafted(case=case, manager=manager_user, owner=support_user, activities=3)
    ids = list(case.plan.activities.values_list("pk", flat=True))
    as_user(client, manager_user)
    assert 'aria-label="Move up: Step 2"' in client.get(m_page(case)).content.decode()
    response = client.post(m_act(case, "reorder"), {"reorder-order": f"{ids[1]},{ids[0]},{ids[2]}"})
    assert response.status_code == 302
    assert [a.description for a in case.plan.activities.order_by("position")] == [
        "Step 2", "Step 1", "Step 3",
    ]  # fmt: skip
    # A page drawn before someone else changed the plan: its order is refused, nothing moves.
    stale = client.post(m_act(case, "reorder"), {"reorder-order": f"{ids[0]},{ids[1]}"})
    assert stale.status_code == 409
    assert CHANGED in stale.content.decode()
    assert client.post(m_act(case, "reorder"), {"reorder-order": "x,y"}).status_code == 400
    assert case.plan.activities.order_by("position").first().description == "Step 2"


@pytest.mark.parametrize("who", ["support_user", "operations_user", "initiator"])
def test_only_incident_managers_reorder_add_or_cancel(client, request, case, manager_user, who):
    case = deescalating(
        case=case, manager=manager_user, owner=request.getfixturevalue("support_user")
    )
    activity = case.plan.activities.get()
    as_user(client, request.getfixturevalue(who))
    assert (
        client.post(m_act(case, "reorder"), {"reorder-order": str(activity.pk)}).status_code == 403
    )
    assert client.post(m_act(case, "add_activity"), {}).status_code == 403
    response = client.post(reverse("activity-cancel", args=[activity.pk]), {"cancel-reason": "x"})
    assert response.status_code == 403
    assert DeescalationActivity.objects.get(pk=activity.pk).status == "open"


def test_add_an_activity_during_implementation(client, case, manager_user, support_user):
    case = deescalating(case=case, manager=manager_user, owner=support_user)
    as_user(client, manager_user)
    bad = client.post(
        m_act(case, "add_activity"),
        {"add_activity-description": " ", "add_activity-owner": support_user.pk,
         "add_activity-due_at": _due()},
    )  # fmt: skip
    assert bad.status_code == 400 and "is-invalid" in bad.content.decode()
    assert case.plan.activities.count() == 1
    client.post(
        m_act(case, "add_activity"),
        {"add_activity-description": "Check the queues", "add_activity-owner": support_user.pk,
         "add_activity-due_at": _due()},
    )  # fmt: skip
    assert case.plan.activities.count() == 2
    assert "0 / 2 done" in client.get(m_page(case)).content.decode()
    assert case.incident.timeline.filter(public=True, note__contains="Check the queues").exists()


def test_adding_after_the_plan_is_confirmed_says_the_incident_changed(
    client, case, manager_user, support_user
):
    case = deescalating(case=case, manager=manager_user, owner=support_user)
    activity_complete(activity=case.plan.activities.get(), actor=support_user, note="Done")
    as_user(client, manager_user)
    client.post(m_act(case, "confirm_deescalation"), {"confirm_deescalation-note": "Fine"})
    response = client.post(
        m_act(case, "add_activity"),
        {"add_activity-description": "Late", "add_activity-owner": support_user.pk,
         "add_activity-due_at": _due()},
    )  # fmt: skip
    assert response.status_code == 409
    assert CHANGED in response.content.decode()


def test_cancel_an_activity_with_a_reason_then_confirm(client, case, manager_user, support_user):
    case = deescalating(case=case, manager=manager_user, owner=support_user, activities=2)
    first, second = case.plan.activities.order_by("position")
    as_user(client, manager_user)
    html = client.get(m_page(case)).content.decode()
    assert "Cancel this activity" in html and "Every deescalation activity must be done" in html
    bad = client.post(reverse("activity-cancel", args=[first.pk]), {"cancel-reason": ""})
    assert bad.status_code == 400 and "is-invalid" in bad.content.decode()
    assert DeescalationActivity.objects.get(pk=first.pk).status == "open"
    client.post(reverse("activity-cancel", args=[first.pk]), {"cancel-reason": "Not needed"})
    assert DeescalationActivity.objects.get(pk=first.pk).status == "cancelled"
    again = client.post(
        reverse("activity-cancel", args=[first.pk]), {"cancel-reason": "x", "seen_status": "open"}
    )
    assert again.status_code == 409 and CHANGED in again.content.decode()
    activity_complete(activity=second, actor=support_user, note="Done")
    html = client.get(m_page(case)).content.decode()
    assert "Closing note for the initiator" in html
    client.post(m_act(case, "confirm_deescalation"), {"confirm_deescalation-note": "All good"})
    assert Escalation.objects.get(pk=case.pk).state == S.DEESCALATED


@override_settings(
    PORTAL={**__import__("django.conf").conf.settings.PORTAL, "PLAN_FOUR_EYES": True}
)
def test_four_eyes_hides_approve_and_return_from_the_author(
    client, case, manager_user, second_manager, support_user
):
    case = submitted(case=case, manager=manager_user, owner=support_user)
    html = as_user(client, manager_user).get(m_page(case)).content.decode()
    assert "Approve plan" not in html and "Return for rework" not in html
    assert (
        client.post(m_act(case, "approve_plan"), {"seen_state": S.PLAN_SUBMITTED}).status_code
        == 403
    )
    assert Escalation.objects.get(pk=case.pk).state == S.PLAN_SUBMITTED
    html = as_user(client, second_manager).get(m_page(case)).content.decode()
    assert "Approve plan" in html and "Return for rework" in html
    client.post(m_act(case, "approve_plan"), {"seen_state": S.PLAN_SUBMITTED})
    assert Escalation.objects.get(pk=case.pk).state == S.DEESCALATING


# --- operations: ack countdown, criteria, impact, stakeholders, link, review -------------


def test_the_queue_counts_down_to_the_acknowledgement_deadline(
    client, initiator, support_user, service, operations_user
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    case = major(incident=incident, support=support_user)
    as_user(client, operations_user)
    assert "Acknowledge by" in client.get(reverse("operations-queue")).content.decode()
    Escalation.objects.filter(pk=case.pk).update(major_at=timezone.now() - timedelta(hours=1))
    html = client.get(reverse("operations-queue")).content.decode()
    assert "Acknowledgement overdue since" in html
    assert "Acknowledgement overdue since" in client.get(o_page(case)).content.decode()


def test_record_impact_and_see_the_criteria_met(client, major_case, operations_user):
    as_user(client, operations_user)
    html = client.get(o_page(major_case)).content.decode()
    assert "Major-incident criteria" in html and "not recorded" in html
    for data in ({}, {"impact-users_affected": "-3"}, {"impact-users_affected": "many"}):
        assert client.post(o_act(major_case, "impact"), data).status_code == 400
    assert not IncidentImpact.objects.exists()
    client.post(o_act(major_case, "impact"), {"impact-users_affected": "120"})
    html = client.get(o_page(major_case)).content.decode()
    assert "At least 50 users affected: <strong>120</strong>" in html


def test_escalate_further_to_picked_stakeholders_emails_them(client, major_case, operations_user):
    cio = Stakeholder.objects.create(name="Cora CIO", email="cio@example.com", role="CIO")
    Stakeholder.objects.create(name="Hal Head", email="head@example.com", role="Head of retail")
    as_user(client, operations_user)
    html = client.get(o_page(major_case)).content.decode()
    assert "Cora CIO (CIO)" in html and "Hal Head (Head of retail)" in html
    bad = client.post(
        o_act(major_case, "escalate_further"),
        {"escalate_further-note": "x", "escalate_further-stakeholders": "999"},
    )
    assert bad.status_code == 400
    client.post(
        o_act(major_case, "escalate_further"),
        {"escalate_further-stakeholders": [cio.pk], "escalate_further-note": "Shop is down",
         "escalate_further-seen_state": "major"},
    )  # fmt: skip
    assert [n.email for n in StakeholderNotice.objects.all()] == ["cio@example.com"]
    assert Escalation.objects.get(pk=major_case.pk).level == 2


def test_link_a_related_incident_by_number(
    client, major_case, operations_user, other_initiator, service, initiator
):
    theirs = reported(initiator=other_initiator, service=service, title="Cannot pay")
    as_user(client, operations_user)
    for number, error in (("", "is-invalid"), ("INC0999999", "There is no incident")):
        response = client.post(o_act(major_case, "link"), {"link-number": number})
        assert response.status_code == 400 and error in response.content.decode()
    client.post(o_act(major_case, "link"), {"link-number": theirs.number.lower()})
    assert IncidentLink.objects.filter(incident=theirs).exists()
    assert "Cannot pay" in client.get(o_page(major_case)).content.decode()
    twice = client.post(o_act(major_case, "link"), {"link-number": theirs.number})
    assert twice.status_code == 409 and "already linked" in twice.content.decode()
    # The other initiator sees the major incident's public updates on their status page.
    client.post(o_act(major_case, "status_update"), {"status_update-message": "Fix at 16:00"})
    as_user(client, other_initiator)
    html = client.get(reverse("my-incident", args=[theirs.number])).content.decode()
    assert "Fix at 16:00" in html and major_case.incident.number in html


@pytest.mark.parametrize("who", ["support_user", "initiator"])
def test_the_review_is_for_operations_and_managers(client, request, major_case, who):
    as_user(client, request.getfixturevalue(who))
    url = reverse("major-review", args=[major_case.incident.number])
    assert client.get(url).status_code == 403
    assert client.post(url, {}).status_code == 403


def review_post(owner, *, summary="Disk full", cause="No alert on disk use", rows=1):
    data = {
        "summary": summary, "cause": cause,
        "follow_ups-TOTAL_FORMS": str(rows), "follow_ups-INITIAL_FORMS": "0",
        "follow_ups-MIN_NUM_FORMS": "1", "follow_ups-MAX_NUM_FORMS": "30",
    }  # fmt: skip
    for n in range(rows):
        data |= {f"follow_ups-{n}-description": f"Alert at 80% ({n})",
                 f"follow_ups-{n}-owner": owner.pk}  # fmt: skip
    return data


def test_confirming_a_once_major_case_waits_for_the_review(
    client, major_case, operations_user, manager_user, support_user
):
    major_hand_over(escalation=major_case, actor=operations_user, note="Stable")
    case = deescalating(case=major_case, manager=manager_user, owner=support_user)
    activity_complete(activity=case.plan.activities.get(), actor=support_user, note="Done")
    as_user(client, manager_user)
    html = client.get(m_page(case)).content.decode()
    assert "submit the post-incident review" in html and "Post-incident review needed" in html
    refused = client.post(m_act(case, "confirm_deescalation"), {"confirm_deescalation-note": "x"})
    assert refused.status_code == 409
    assert "submit the post-incident review" in refused.content.decode()

    url = reverse("major-review", args=[case.incident.number])
    for bad in (review_post(support_user, cause=" "), review_post(support_user, rows=0)):
        assert client.post(url, bad).status_code == 400
    assert not PostIncidentReview.objects.exists()
    assert client.post(url, review_post(support_user)).status_code == 302
    assert PostIncidentReview.objects.get().follow_ups.get().owner == support_user
    assert "Disk full" in client.get(url).content.decode()
    client.post(m_act(case, "confirm_deescalation"), {"confirm_deescalation-note": "Over"})
    assert Escalation.objects.get(pk=case.pk).state == S.DEESCALATED
    # The case is over: a review posted from a stale page changes nothing.
    stale = client.post(url, review_post(support_user, summary="Changed"))
    assert stale.status_code == 409
    assert PostIncidentReview.objects.get().summary == "Disk full"


def test_classify_major_shows_the_criteria_on_the_staff_page_and_the_check(
    client, initiator, support_user, service
):
    incident = reported(initiator=initiator, service=service, support=support_user)
    as_user(client, support_user)
    html = client.get(reverse("incident-detail", args=[incident.number])).content.decode()
    assert "Major-incident criteria" in html and "Priority 1 (critical)" in html
    from tests.e2e.process import requested

    case = requested(incident=incident, initiator=initiator)
    html = client.get(reverse("entitlement-check", args=[case.pk])).content.decode()
    assert "Major-incident criteria" in html


@pytest.mark.parametrize(
    ("due", "message"),
    [
        ("2020-01-01T10:00", "The due time is in the past."),
        ("9999-12-31T23:59", "The due time is more than a year away: check the year."),
    ],
)
def test_a_follow_up_due_in_the_past_or_in_a_far_year_is_refused(
    client, major_case, operations_user, support_user, due, message
):
    as_user(client, operations_user)
    url = reverse("major-review", args=[major_case.incident.number])
    data = review_post(support_user) | {"follow_ups-0-due_at": due}
    response = client.post(url, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PostIncidentReview.objects.exists()
