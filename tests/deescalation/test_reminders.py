"""The monitor: overdue activities and promised updates, reminded once per interval."""

from datetime import UTC, datetime, timedelta

import time_machine

from incidents.calendars import calendar_for
from incidents.models import BusinessCalendar, Incident, Reminder, UpdateCadence
from incidents.selectors_deescalation import UpdateClock, next_update_due
from incidents.services.deescalation import activity_complete, status_update_post
from incidents.services.reminders import reminders_run

from .conftest import T0, told

REPEAT = timedelta(minutes=240)  # PORTAL["ACTIVITY_REMINDER_REPEAT_MINUTES"]


def _run_twice_at(moment):
    with time_machine.travel(moment, tick=False):
        first, second = reminders_run(), reminders_run()
    return first, second


def test_overdue_activity_reminds_owner_and_managers_once_per_interval(
    deescalating, support_user, manager_user, second_manager
):
    due = T0 + timedelta(hours=1)
    before, _ = _run_twice_at(due - timedelta(minutes=1))
    assert before.activities_overdue == 0

    first, second = _run_twice_at(due + timedelta(minutes=1))
    assert (first.activities_overdue, second.activities_overdue) == (1, 0)
    for person in (support_user, manager_user, second_manager):
        (reminder,) = told(person, "activity_overdue")
        assert "Fail over" in reminder.body

    quiet, _ = _run_twice_at(due + REPEAT - timedelta(minutes=1))
    assert quiet.activities_overdue == 0
    again, again_twice = _run_twice_at(due + REPEAT + timedelta(minutes=1))
    assert (again.activities_overdue, again_twice.activities_overdue) == (1, 0)
    assert len(told(support_user, "activity_overdue")) == 2


def test_done_activities_are_not_reminded(deescalating, support_user):
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        activity_complete(
            activity=deescalating.plan.activities.get(), actor=support_user, note="Failed over"
        )
    _run_twice_at(T0 + timedelta(hours=2))
    assert told(support_user, "activity_overdue") == []


def test_update_due_reminds_managers_once_and_an_update_resets_the_clock(
    escalated, initiator, manager_user, second_manager
):
    # P2: every 4 hours by default, counted from the escalation.
    assert next_update_due(escalated.incident) == T0 + timedelta(hours=4)

    early, _ = _run_twice_at(T0 + timedelta(hours=4) - timedelta(minutes=1))
    assert early.updates_due == 0
    first, second = _run_twice_at(T0 + timedelta(hours=4, minutes=1))
    assert (first.updates_due, second.updates_due) == (1, 0)
    assert len(told(manager_user, "update_due")) == 1
    assert len(told(second_manager, "update_due")) == 1
    assert told(initiator, "update_due") == []

    posted_at = T0 + timedelta(hours=4, minutes=10)
    with time_machine.travel(posted_at, tick=False):
        status_update_post(
            incident=escalated.incident, actor=manager_user, message="Standby is warming up"
        )
    # 13:10 + 4 h is 18:10 in Berlin, after office hours (08-18, the P2 policy's reminder
    # calendar): the initiator is promised news at the next opening, not in the night.
    tuesday_8_berlin = datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
    assert next_update_due(escalated.incident) == tuesday_8_berlin
    evening, _ = _run_twice_at(posted_at + timedelta(hours=4, minutes=1))
    assert evening.updates_due == 0
    late, late_again = _run_twice_at(tuesday_8_berlin + timedelta(minutes=1))
    assert (late.updates_due, late_again.updates_due) == (1, 0)
    assert len(told(manager_user, "update_due")) == 2
    assert len(told(second_manager, "update_due")) == 2
    assert Reminder.objects.filter(kind=Reminder.Kind.UPDATE_DUE).count() == 2


def test_the_cadence_is_editable_per_priority(escalated):
    UpdateCadence.objects.update_or_create(
        priority=escalated.incident.priority, defaults={"interval_minutes": 30}
    )
    assert next_update_due(escalated.incident) == T0 + timedelta(minutes=30)
    first, _ = _run_twice_at(T0 + timedelta(minutes=31))
    assert first.updates_due == 1


def test_no_update_is_promised_before_escalation(initiator, support_user, service):
    from incidents.services.incidents import incident_report

    incident = incident_report(
        initiator=initiator, title="Slow VPN", description="Slow", service=service,
        impact=2, urgency=2,
    )  # fmt: skip
    assert next_update_due(incident) is None


def test_a_p1_or_major_promise_holds_at_any_hour(escalated, manager_user):
    Incident.objects.filter(pk=escalated.incident_id).update(priority=1)
    escalated.incident.refresh_from_db()
    evening = T0 + timedelta(hours=8, minutes=30)  # 17:30 UTC, 18:30 in Berlin
    with time_machine.travel(evening, tick=False):
        status_update_post(incident=escalated.incident, actor=manager_user, message="On it")
    assert next_update_due(escalated.incident) == evening + timedelta(minutes=60)


def test_the_update_clock_waits_for_office_hours_and_repeats_inside_them(db):
    office = calendar_for(BusinessCalendar.objects.get(name="Office hours"))
    clock = UpdateClock(started=T0, interval=timedelta(hours=4), calendar=office)
    assert clock.due == T0 + timedelta(hours=4)  # 13:00 UTC, 14:00 in Berlin: open
    tuesday_8_berlin = datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
    assert clock.due_after(clock.due) == tuesday_8_berlin  # 17:00 UTC is 18:00: closed
    assert clock.latest_due(T0 + timedelta(hours=3)) is None
    assert clock.latest_due(T0 + timedelta(hours=9)) == T0 + timedelta(hours=4)
    assert clock.latest_due(tuesday_8_berlin + timedelta(hours=5)) == tuesday_8_berlin + (
        timedelta(hours=4)
    )
    always = UpdateClock(started=T0, interval=timedelta(hours=4))
    assert always.latest_due(T0 + timedelta(hours=9)) == T0 + timedelta(hours=8)
