"""Impact x urgency -> priority, through incident_report, from the data-driven matrix."""

import pytest

from incidents.models import Incident, PriorityRule, SLAPolicy
from incidents.services.incidents import incident_report

# ServiceNow's default lookup rules (DESIGN.md section 3), as the reporter meets them.
DEFAULT = [
    (1, 1, 1), (1, 2, 2), (1, 3, 3),
    (2, 1, 2), (2, 2, 3), (2, 3, 4),
    (3, 1, 3), (3, 2, 4), (3, 3, 5),
]  # fmt: skip


def _report(initiator, service, impact, urgency) -> Incident:
    return incident_report(
        initiator=initiator, title="Printer on fire", description="Smoke on floor 3",
        service=service, impact=impact, urgency=urgency,
    )  # fmt: skip


@pytest.mark.parametrize(("impact", "urgency", "priority"), DEFAULT)
def test_each_cell_of_the_default_matrix(initiator, service, impact, urgency, priority):
    incident = _report(initiator, service, impact, urgency)
    assert incident.priority == priority
    policy = SLAPolicy.objects.get(priority=priority)
    assert (incident.resolution_due - incident.created_at).total_seconds() == (
        policy.resolution_minutes * 60
    )
    assert (incident.response_due - incident.created_at).total_seconds() == (
        policy.response_minutes * 60
    )


def test_the_matrix_is_seeded_with_all_nine_cells(db):
    cells = set(PriorityRule.objects.values_list("impact", "urgency", "priority"))
    assert cells == set(DEFAULT)


def test_editing_a_cell_changes_the_priority_of_new_incidents(initiator, service):
    before = _report(initiator, service, 2, 2)
    PriorityRule.objects.filter(impact=2, urgency=2).update(priority=1)

    after = _report(initiator, service, 2, 2)
    assert after.priority == 1
    assert after.get_priority_display() == "P1 Critical"
    assert Incident.objects.get(pk=before.pk).priority == 3  # reported earlier: unchanged
    # The SLA follows the new priority.
    assert (after.resolution_due - after.created_at) < (before.resolution_due - before.created_at)


def test_a_deleted_cell_falls_back_to_the_default(initiator, service):
    PriorityRule.objects.filter(impact=3, urgency=3).delete()
    assert _report(initiator, service, 3, 3).priority == 5


def test_the_reported_priority_is_on_the_public_timeline(initiator, service):
    incident = _report(initiator, service, 1, 1)
    entry = incident.timeline.get()
    assert entry.public
    assert entry.note == "Reported with priority P1 Critical."
