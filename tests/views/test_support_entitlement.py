"""The entitlement check screen: the facts, the recommendation, the four decisions."""

import pytest
from django.urls import reverse

from incidents.models import Escalation, TimelineEntry
from incidents.services.escalations import (
    escalation_flag_imminent,
    escalation_reject,
    escalation_request,
)
from incidents.services.incidents import incident_start_work
from notifications.models import Notification
from tests.factories import IncidentFactory

S = Escalation.State


@pytest.fixture
def case(service, initiator, support_user):
    incident = IncidentFactory(service=service, initiator=initiator, impact=1, urgency=1,
                               title="Invoices stuck")  # fmt: skip
    incident_start_work(incident=incident, actor=support_user)
    return escalation_request(incident=incident, actor=initiator,
                              reason="Suppliers are not paid; quarter closes tomorrow")  # fmt: skip


def url(case):
    return reverse("entitlement-check", args=[case.pk])


def post(client, case, slug, **values):
    data = {"action": slug, f"{slug}-seen_state": case.state, f"{slug}-seen_case": case.pk}
    data.update({f"{slug}-{k}": v for k, v in values.items()})
    return client.post(url(case), data)


def test_only_staff_may_open_it(client, case, initiator, operations_user):
    assert client.get(url(case)).status_code == 302
    client.force_login(initiator)
    assert client.get(url(case)).status_code == 403
    assert post(client, case, "reject", reason="x").status_code == 403
    client.force_login(operations_user)
    response = client.get(url(case))
    assert response.status_code == 200
    assert "No decision is open to you" in response.content.decode()
    assert post(client, case, "reject", reason="x").status_code == 403
    assert Escalation.objects.get(pk=case.pk).state == S.REQUESTED


def test_the_facts_and_the_recommendation_with_its_reasons(client, case, support_user):
    client.force_login(support_user)
    html = client.get(url(case)).content.decode()
    assert 'title="P1 Critical">P1</span> Critical <' in html  # the badge, then the word
    assert "% used" in html
    assert "Tier 2 (standard)" in html
    assert "Suppliers are not paid; quarter closes tomorrow" in html
    assert "No earlier escalations of this incident." in html
    assert 'data-testid="verdict">Escalation is entitled<' in html
    assert "Priority P1 Critical warrants escalation." in html
    assert "entitled from 3)" in html  # the score says how far it is from the verdict
    for label in ("Escalate", "Reject", "Avoided", "Classify as major"):
        assert f">{label}</button>" in html


def test_earlier_escalations_are_listed(client, service, initiator, support_user):
    incident = IncidentFactory(service=service, initiator=initiator)
    escalation_reject(
        escalation=escalation_request(incident=incident, actor=initiator, reason="first"),
        actor=support_user, reason="Not yet",
    )  # fmt: skip
    second = escalation_request(incident=incident, actor=initiator, reason="second")
    client.force_login(support_user)
    html = client.get(url(second)).content.decode()
    assert "Not yet" in html and "1 earlier case" in html


def test_reject_needs_a_reason_and_changes_nothing_without_one(client, case, support_user):
    client.force_login(support_user)
    entries = TimelineEntry.objects.count()
    response = post(client, case, "reject", reason="  ")
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html and "is-invalid" in html
    assert 'class="collapse show" id="decide-reject"' in html
    assert Escalation.objects.get(pk=case.pk).state == S.REQUESTED
    assert TimelineEntry.objects.count() == entries


def test_rejecting_tells_the_initiator_why(client, case, support_user, initiator):
    client.force_login(support_user)
    response = post(client, case, "reject", reason="Within SLA targets")
    assert response.status_code == 302
    assert response.url == reverse("support-queue") + "?tab=entitlement"
    case.refresh_from_db()
    assert case.state == S.REJECTED and case.decision_reason == "Within SLA targets"
    assert case.recommendation["entitled"] is True  # what the screen showed is kept
    public = TimelineEntry.objects.filter(escalation=case, public=True, to_state=S.REJECTED)
    assert public.get().note == "Within SLA targets"
    assert Notification.objects.filter(recipient=initiator, event="escalation_rejected").exists()


@pytest.mark.parametrize(
    ("slug", "values", "state"),
    [
        ("escalate", {"reason": "P1 near breach"}, S.ESCALATED),
        ("avoid", {"reason": "The DBA fixed the lock"}, S.AVOIDED),
        ("classify_major", {"reason": "Company-wide outage"}, S.MAJOR),
    ],
)
def test_each_decision_moves_the_case(client, case, support_user, slug, values, state):
    client.force_login(support_user)
    assert post(client, case, slug, **values).status_code == 302
    assert Escalation.objects.get(pk=case.pk).state == state


@pytest.mark.parametrize("slug", ["escalate", "avoid", "classify_major"])
def test_every_decision_needs_its_text(client, case, support_user, slug):
    client.force_login(support_user)
    assert post(client, case, slug, reason="").status_code == 400
    assert Escalation.objects.get(pk=case.pk).state == S.REQUESTED


def test_a_decision_taken_meanwhile_is_a_conflict_not_a_500(client, case, support_user,
                                                           manager_user):  # fmt: skip
    client.force_login(support_user)
    client.get(url(case))
    colleague = type(support_user).objects.create_user("sue")
    colleague.groups.set(support_user.groups.all())
    escalation_reject(escalation=case, actor=colleague, reason="Already handled")
    response = post(client, case, "escalate", reason="Entitled")
    assert response.status_code == 409
    html = response.content.decode()
    assert "This incident changed while you were looking" in html
    assert "This case is already decided: <strong>Rejected</strong>" in html
    assert "Already handled.</p>" in html  # one full stop after a reason typed without
    assert Escalation.objects.get(pk=case.pk).state == S.REJECTED


def test_an_imminent_case_offers_avoid_but_not_reject(client, service, initiator, support_user):
    incident = IncidentFactory(service=service, initiator=initiator)
    imminent = escalation_flag_imminent(incident=incident, actor=support_user, reason="80 %")
    client.force_login(support_user)
    html = client.get(url(imminent)).content.decode()
    assert ">Avoided</button>" in html and ">Reject</button>" not in html
    assert post(client, imminent, "reject", reason="x").status_code == 409


def test_unknown_decision_is_refused(client, case, support_user):
    client.force_login(support_user)
    assert client.post(url(case), {"action": "resolve"}).status_code == 400
    assert client.get(reverse("entitlement-check", args=[999999])).status_code == 404
