"""The batch door to the outbox writes what one call per step would, and nothing on rollback."""

import pytest
from django.db import transaction

from incidents.models import Escalation, Incident, TimelineEntry
from incidents.services.timeline import timeline_record
from notifications.events import Event
from notifications.models import Notification
from notifications.services import (
    NotificationStep,
    notification_batch,
    notification_preferences_update,
    notification_queue,
    notification_queue_many,
)
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

FIELDS = ("idempotency_key", "recipient", "channel", "event", "incident", "escalation", "cause",
          "subject", "body", "body_html", "context", "status")  # fmt: skip


class Undo(Exception):
    pass


@pytest.fixture
def steps(initiator, other_initiator, service, support_user, manager_user, second_manager):
    """Steps of several kinds: staff audiences shared across incidents, a muted recipient,
    a P1 alert that ignores the mute, an actor who is not told, a receipt to the actor."""
    notification_preferences_update(user=support_user, muted_events=["escalation_imminent"])
    made = []
    for n, (who, impact) in enumerate([(initiator, 3), (other_initiator, 3), (initiator, 1)]):
        incident = IncidentFactory(
            initiator=who, service=service, impact=impact, urgency=impact,
            status=Incident.Status.IN_PROGRESS, title=f"Case {n}",
        )  # fmt: skip
        case = Escalation.objects.create(incident=incident, state=Escalation.State.IMMINENT,
                                         reason=f"{50 + n} % used")  # fmt: skip
        entry = timeline_record(
            incident=incident, escalation=case, kind=TimelineEntry.Kind.TRANSITION,
            note=f"{50 + n} % used",
        )  # fmt: skip
        made.append(NotificationStep(event=Event.ESCALATION_IMMINENT, incident=incident,
                                     escalation=case, cause=entry))  # fmt: skip
        made.append(NotificationStep(event=Event.ESCALATION_ESCALATED, incident=incident,
                                     escalation=case, cause=entry, actor=manager_user))  # fmt: skip
        made.append(NotificationStep(event=Event.ESCALATION_REQUESTED, incident=incident,
                                     escalation=case, cause=entry, actor=who))  # fmt: skip
    return made


def written(after: int) -> list[tuple]:
    return sorted(Notification.objects.filter(pk__gt=after).values_list(*FIELDS))


def last_pk() -> int:
    return Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def one_call_per_step(steps: list[NotificationStep]) -> list[tuple]:
    mark = last_pk()
    with pytest.raises(Undo), transaction.atomic():
        for s in steps:
            notification_queue(event=s.event, incident=s.incident, cause=s.cause,
                               escalation=s.escalation, actor=s.actor)  # fmt: skip
        rows = written(mark)
        raise Undo
    return rows


def test_a_batch_writes_the_same_rows_as_one_call_per_step(
    steps, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    expected = one_call_per_step(steps)
    assert len(expected) > 2 * len(steps)  # staff audiences, both channels: a real comparison
    mark = last_pk()
    # Plans, three role audiences, preferences, one insert: not one of each per step.
    with django_assert_max_num_queries(8), django_capture_on_commit_callbacks() as callbacks:
        notification_queue_many(steps=steps)
    assert written(mark) == expected
    # The muted support user still hears about the P1 incident by e-mail, and only that.
    muted = [r for r in expected if r[3] == "escalation_imminent" and r[2] == "email"]
    assert {r[4] for r in muted} == {steps[6].incident.pk}
    # One enqueue after commit, for every e-mail row of the batch.
    assert len(callbacks) == 1


def test_a_rolled_back_batch_emits_nothing(steps, django_capture_on_commit_callbacks):
    mark = last_pk()
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(Undo),
        transaction.atomic(),
    ):
        notification_queue_many(steps=steps)
        raise Undo
    assert written(mark) == [] and callbacks == []


def test_notification_batch_writes_at_its_end_and_skips_rolled_back_steps(
    steps, django_capture_on_commit_callbacks
):
    mark = last_pk()
    kept, dropped = steps[1], steps[3]  # kept: e-mail to the initiator and managers
    with django_capture_on_commit_callbacks() as callbacks, notification_batch():
        notification_queue(event=kept.event, incident=kept.incident, cause=kept.cause,
                           escalation=kept.escalation)  # fmt: skip
        assert written(mark) == []  # collected, not yet written
        with pytest.raises(Undo), transaction.atomic():
            entry = timeline_record(incident=dropped.incident, kind=TimelineEntry.Kind.TRANSITION)
            notification_queue(event=dropped.event, incident=dropped.incident, cause=entry,
                               escalation=dropped.escalation)  # fmt: skip
            raise Undo
    assert {r[5] for r in written(mark)} == {kept.escalation.pk}
    assert len(callbacks) == 1


def test_an_error_inside_a_batch_writes_nothing(steps):
    mark = last_pk()
    with pytest.raises(Undo), notification_batch():
        s = steps[0]
        notification_queue(event=s.event, incident=s.incident, cause=s.cause,
                           escalation=s.escalation)  # fmt: skip
        raise Undo
    assert written(mark) == []
