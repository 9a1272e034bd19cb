"""State fields are protected: the only way to change a state is a transition."""

import pytest

from incidents.models import DeescalationActivity, Escalation, Incident
from incidents.services.deescalation import activity_complete
from incidents.services.escalations import escalation_reject

from .states import activity_in, escalation_in, incident_in

S = Escalation.State


def test_an_escalation_state_cannot_be_assigned(cast):
    case = escalation_in(S.REQUESTED, cast)
    with pytest.raises(AttributeError, match="Direct state modification is not allowed"):
        case.state = S.ESCALATED
    assert Escalation.objects.get(pk=case.pk).state == S.REQUESTED


def test_an_incident_status_cannot_be_assigned(cast):
    incident = incident_in(Incident.Status.IN_PROGRESS, cast)
    with pytest.raises(AttributeError, match="Direct status modification is not allowed"):
        incident.status = Incident.Status.CLOSED


def test_an_activity_status_cannot_be_assigned(cast):
    activity = activity_in(DeescalationActivity.Status.OPEN, cast)
    with pytest.raises(AttributeError, match="Direct status modification is not allowed"):
        activity.status = DeescalationActivity.Status.DONE


def test_the_way_to_change_a_state_is_a_transition(cast):
    case = escalation_in(S.REQUESTED, cast)
    rejected = escalation_reject(escalation=case, actor=cast.support, reason="Within targets")
    assert rejected.state == S.REJECTED
    # A stale copy reads the new state back (refresh_from_db is not an assignment).
    case.refresh_from_db()
    assert case.state == S.REJECTED


def test_an_activity_reads_its_new_status_back(cast):
    activity = activity_in(DeescalationActivity.Status.OPEN, cast)
    activity_complete(activity=activity, actor=cast.support, note="Failed over")
    activity.refresh_from_db()
    assert activity.status == DeescalationActivity.Status.DONE
    assert activity.note == "Failed over"


def test_a_new_object_may_be_created_in_a_state(cast):
    """Constructing is not assigning: set-up code and the services create cases in a state."""
    incident = incident_in(Incident.Status.IN_PROGRESS, cast)
    case = Escalation(incident=incident, state=S.IMMINENT, source="support", reason="x")
    assert case.state == S.IMMINENT
    with pytest.raises(AttributeError):
        case.state = S.REQUESTED
