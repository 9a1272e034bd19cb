"""The entitlement recommendation: a verdict and every reason, in the words FLS reads."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.entitlement import entitlement_recommendation
from incidents.models import Escalation, Service
from incidents.services.escalations import (
    escalation_avoid,
    escalation_escalate,
    escalation_reject,
    escalation_request,
)
from incidents.services.incidents import incident_report, incident_start_work

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
P3_TARGET = timedelta(minutes=1440)  # the seeded resolution target for P3


def _report(cast, *, impact: int, urgency: int):
    with time_machine.travel(T0, tick=False):
        incident = incident_report(
            initiator=cast.initiator, title="Mail slow", description="Minutes per message",
            service=cast.service, impact=impact, urgency=urgency,
        )  # fmt: skip
        incident_start_work(incident=incident, actor=cast.support)
    return incident


def _recommend(incident, *, after: timedelta = timedelta(0)):
    with time_machine.travel(T0 + after, tick=False):
        return entitlement_recommendation(incident=incident)


def test_a_fresh_low_priority_incident_is_not_entitled(cast):
    recommendation = _recommend(_report(cast, impact=3, urgency=2))
    assert not recommendation.entitled
    assert recommendation.verdict == "Escalation is not entitled"
    assert recommendation.score == 0
    assert recommendation.reasons == [
        "Priority P4 Low alone does not warrant escalation.",
        "Only 0 % of the resolution target is used.",
        "E-mail is a Tier 2 (standard) service.",
        "No earlier escalations of this incident.",
    ]


@pytest.mark.parametrize(
    ("impact", "urgency", "sentence", "entitled"),
    [
        (1, 1, "Priority P1 Critical warrants escalation.", True),
        (1, 2, "Priority P2 High counts towards escalation, but not on its own.", False),
        (2, 2, "Priority P3 Moderate alone does not warrant escalation.", False),
        (3, 3, "Priority P5 Planning alone does not warrant escalation.", False),
    ],
)
def test_the_priority_reason(cast, impact, urgency, sentence, entitled):
    recommendation = _recommend(_report(cast, impact=impact, urgency=urgency))
    assert recommendation.reasons[0] == sentence
    assert recommendation.entitled is entitled


@pytest.mark.parametrize(
    ("share", "sentence", "entitled"),
    [
        (0.25, "Only 25 % of the resolution target is used.", False),
        (0.5, "50 % of the resolution target is used.", False),
        (0.8, "80 % of the resolution target is used: a breach is close.", True),
        (1.0, "The resolution SLA is breached (100 % of the target used).", True),
        (1.5, "The resolution SLA is breached (150 % of the target used).", True),
    ],
)
def test_the_sla_reason_follows_the_clock(cast, share, sentence, entitled):
    incident = _report(cast, impact=2, urgency=2)  # P3: one point on its own
    recommendation = _recommend(incident, after=P3_TARGET * share)
    assert recommendation.reasons[1] == sentence
    assert recommendation.entitled is entitled


def test_a_business_critical_service_counts(cast):
    cast.service.tier = Service.Tier.CRITICAL
    cast.service.save()
    incident = _report(cast, impact=2, urgency=2)  # P3 (1) + tier 1 (1): not yet
    recommendation = _recommend(incident)
    assert recommendation.reasons[2] == "E-mail is a business-critical service (tier 1)."
    assert recommendation.score == 2
    # Half the target used tips it over.
    assert _recommend(incident, after=P3_TARGET / 2).entitled


def test_earlier_escalations_count_and_say_how_many_were_rejected(cast):
    incident = _report(cast, impact=3, urgency=2)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        first = escalation_request(incident=incident, actor=cast.initiator, reason="Slow")
        escalation_reject(escalation=first, actor=cast.support, reason="Within targets")
    assert _recommend(incident, after=timedelta(hours=2)).reasons[3] == (
        "It was escalated or asked for before (1 earlier case, 1 rejected): the problem persists."
    )
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        second = escalation_request(incident=incident, actor=cast.initiator, reason="Slower")
        escalation_avoid(escalation=second, actor=cast.support, reason="Cleared the queue")
        escalation_request(incident=incident, actor=cast.initiator, reason="Slow again")
    # The active request is the one being checked, not an earlier one.
    assert _recommend(incident, after=timedelta(hours=4)).reasons[3] == (
        "It was escalated or asked for before (2 earlier cases, 1 rejected): the problem persists."
    )


def test_small_facts_add_up_to_entitled(cast):
    cast.service.tier = Service.Tier.CRITICAL
    cast.service.save()
    incident = _report(cast, impact=3, urgency=2)  # P4: no points
    first = escalation_request(incident=incident, actor=cast.initiator, reason="Slow")
    escalation_reject(escalation=first, actor=cast.support, reason="Within targets")
    recommendation = _recommend(incident, after=timedelta(minutes=4320) * 0.6)
    assert recommendation.score == 3  # 60 % used + tier 1 + an earlier case
    assert recommendation.entitled
    assert recommendation.verdict == "Escalation is entitled"


def test_the_decision_keeps_the_recommendation_that_was_shown(cast):
    incident = _report(cast, impact=1, urgency=1)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        case = escalation_request(incident=incident, actor=cast.initiator, reason="Down")
        case = escalation_escalate(escalation=case, actor=cast.support, reason="P1")
    stored = Escalation.objects.get(pk=case.pk)
    assert stored.recommendation["entitled"] is True
    assert stored.recommendation["reasons"][0] == "Priority P1 Critical warrants escalation."
    assert stored.recommendation["reasons"][1] == "Only 12 % of the resolution target is used."
    assert stored.decided_by == cast.support
