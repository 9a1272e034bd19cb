"""At most one active escalation case per incident: the database enforces it, not only Python."""

import pytest
from django.db import IntegrityError, transaction

from incidents.models import ACTIVE_STATES, FINAL_STATES, Escalation
from incidents.services.errors import ActionRefused, IncidentChanged
from incidents.services.escalations import (
    escalation_flag_imminent,
    escalation_reject,
    escalation_request,
)

from .states import escalation_in

S = Escalation.State


def _raw_case(incident, state) -> Escalation:
    return Escalation(incident=incident, state=state, source="support", reason="Raw insert")


@pytest.mark.parametrize("second", ACTIVE_STATES)
def test_a_second_active_case_is_refused_by_the_database(cast, second):
    first = escalation_in(S.ESCALATED, cast)
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.create(
            incident=first.incident, state=second, source="support", reason="Raw"
        )
    assert Escalation.objects.filter(incident=first.incident).count() == 1


def test_bulk_create_cannot_sneak_in_two_active_cases(cast):
    first = escalation_in(S.REQUESTED, cast)
    first.delete()  # an incident with no case at all
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.bulk_create(
            [_raw_case(first.incident, S.IMMINENT), _raw_case(first.incident, S.REQUESTED)]
        )
    assert not Escalation.objects.filter(incident=first.incident).exists()


def test_a_queryset_update_cannot_reactivate_an_ended_case(cast):
    ended = escalation_in(S.REJECTED, cast)
    escalation_request(incident=ended.incident, actor=cast.initiator, reason="Down again")
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.filter(pk=ended.pk).update(state=S.REQUESTED)


@pytest.mark.parametrize("final", FINAL_STATES)
def test_a_new_case_is_allowed_once_the_first_is_final(cast, final):
    first = escalation_in(final, cast)
    Escalation.objects.create(incident=first.incident, state=S.REQUESTED, source="support",
                              reason="Raw")  # fmt: skip
    assert Escalation.objects.filter(incident=first.incident, state__in=ACTIVE_STATES).count() == 1


def test_many_ended_cases_may_exist_beside_one_active(cast):
    case = escalation_in(S.REJECTED, cast)
    incident = case.incident
    again = escalation_request(incident=incident, actor=cast.initiator, reason="Down again")
    escalation_reject(escalation=again, actor=cast.support, reason="Still within targets")
    third = escalation_request(incident=incident, actor=cast.initiator, reason="And again")
    states = sorted(Escalation.objects.filter(incident=incident).values_list("state", flat=True))
    assert states == ["rejected", "rejected", "requested"]
    assert third.state == S.REQUESTED


def test_the_services_turn_the_constraint_into_a_sentence(cast):
    case = escalation_in(S.REQUESTED, cast)
    with pytest.raises(IncidentChanged) as refusal:
        escalation_flag_imminent(incident=case.incident, actor=cast.support, reason="75 %")
    assert refusal.value.message == "This incident already has an active escalation."
    with pytest.raises(ActionRefused) as refusal:
        escalation_request(incident=case.incident, actor=cast.initiator, reason="Again")
    assert refusal.value.message == (
        "An escalation is already under way: awaiting entitlement check."
    )
