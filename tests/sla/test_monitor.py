"""The SLA monitor: what first-level support sees happen without anyone touching it."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from incidents.models import Escalation, Incident, SLAThresholdCrossing
from incidents.services.incidents import (
    incident_put_on_hold,
    incident_report,
    incident_resolve,
    incident_start_work,
)
from incidents.services.sla_monitor import sla_monitor_run
from notifications.models import Notification

from .conftest import use_policy

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
S = Escalation.State


def report_p1(initiator, service) -> Incident:
    return incident_report(
        initiator=initiator, title="Payments down", description="No card payments",
        service=service, impact=1, urgency=1,
    )  # fmt: skip


def fired(incident) -> list[tuple[str, int]]:
    return list(
        SLAThresholdCrossing.objects.filter(incident=incident)
        .order_by("reached_at", "timer")
        .values_list("timer", "percentage")
    )


def test_a_4h_target_warns_at_2h_and_3h_and_breaches_at_4h(initiator, support_user, service):
    with time_machine.travel(T0, tick=False) as clock:
        incident = report_p1(initiator, service)  # P1: 240 min, escalates at once on breach
        incident_start_work(incident=incident, actor=support_user)
        minutes_fired = {}
        for minute in range(1, 251):  # one run a minute, as beat does
            clock.move_to(T0 + timedelta(minutes=minute, seconds=5))
            report = sla_monitor_run()
            for _, timer, pct in report.fired:
                minutes_fired[(timer, pct)] = minute
    assert minutes_fired == {("resolution", 50): 120, ("resolution", 75): 180,
                             ("resolution", 100): 240}  # fmt: skip
    (case,) = Escalation.objects.filter(incident=incident)
    assert case.state == S.ESCALATED
    assert case.source == Escalation.Source.SLA_MONITOR
    assert case.warning_percentage == 50
    imminent_alerts = Notification.objects.filter(
        event="escalation_imminent", recipient=support_user, channel="in_app"
    )
    assert imminent_alerts.count() == 1


def test_running_twice_in_the_same_minute_fires_nothing_twice(initiator, service):
    with time_machine.travel(T0, tick=False) as clock:
        incident = report_p1(initiator, service)
        clock.shift(timedelta(minutes=8))  # response 15 min: 50 % at 7.5 min
        first = sla_monitor_run()
        second = sla_monitor_run()
    assert first.fired == [(incident.pk, "response", 50)]
    assert second.fired == []
    assert Escalation.objects.filter(incident=incident).count() == 1


def test_one_run_after_an_hours_outage_catches_up_exactly_once(initiator, support_user, service):
    with time_machine.travel(T0, tick=False) as clock:
        early = report_p1(initiator, service)
        incident_start_work(incident=early, actor=support_user)
        clock.shift(timedelta(minutes=70))
        late = report_p1(initiator, service)
        incident_start_work(incident=late, actor=support_user)
        clock.shift(timedelta(minutes=60))  # early: 130 min; late: 60 min
        assert sla_monitor_run().fired == [(early.pk, "resolution", 50)]
        # The monitor is down for an hour: early crosses 75 % (180 min), late 50 % (120 min).
        clock.shift(timedelta(minutes=61))
        caught_up = sla_monitor_run()
        again = sla_monitor_run()
    assert sorted(caught_up.fired) == sorted(
        [(early.pk, "resolution", 75), (late.pk, "resolution", 50)]
    )
    assert again.fired == []
    assert fired(early) == [("resolution", 50), ("resolution", 75)]
    crossing = SLAThresholdCrossing.objects.get(incident=late)
    assert crossing.reached_at == T0 + timedelta(minutes=190)  # when it happened, not found
    assert Escalation.objects.filter(state=S.IMMINENT).count() == 2


def test_a_breach_while_asleep_is_one_request_not_three_cases(initiator, support_user, service):
    use_policy(1, breach_action="request")
    with time_machine.travel(T0, tick=False) as clock:
        incident = report_p1(initiator, service)
        incident_start_work(incident=incident, actor=support_user)
        clock.shift(timedelta(hours=5))
        report = sla_monitor_run()
    assert [pct for _, _, pct in report.fired] == [50, 75, 100]
    (case,) = Escalation.objects.filter(incident=incident)
    assert case.state == S.REQUESTED  # waits in the entitlement queue


def test_resolved_incidents_are_not_escalated(initiator, support_user, service):
    with time_machine.travel(T0, tick=False) as clock:
        incident = report_p1(initiator, service)
        incident_start_work(incident=incident, actor=support_user)
        clock.shift(timedelta(minutes=100))
        incident_resolve(incident=incident, actor=support_user, note="Failed over")
        clock.shift(timedelta(hours=5))
        assert sla_monitor_run().fired == []
    assert not Escalation.objects.filter(incident=incident).exists()


def test_a_paused_incident_does_not_warn(initiator, support_user, service):
    with time_machine.travel(T0, tick=False) as clock:
        incident = report_p1(initiator, service)
        incident_start_work(incident=incident, actor=support_user)
        clock.shift(timedelta(minutes=100))
        incident_put_on_hold(incident=incident, actor=support_user, reason="Awaiting logs")
        clock.shift(timedelta(hours=5))
        assert sla_monitor_run().fired == []


def test_non_urgent_warnings_wait_for_office_hours(initiator, support_user, service):
    # P3 counts 24x7 (24 h) but alerts wait for "Office hours" (Mon-Fri 08-18 Berlin).
    saturday_10 = datetime(2026, 3, 7, 10, 0, tzinfo=BERLIN)
    with time_machine.travel(saturday_10, tick=False) as clock:
        incident = incident_report(
            initiator=initiator, title="Printer", description="Jammed", service=service,
            impact=2, urgency=2,
        )  # fmt: skip
        incident_start_work(incident=incident, actor=support_user)
        clock.move_to(datetime(2026, 3, 7, 22, 1, tzinfo=BERLIN))  # 50 % at 22:00
        night = sla_monitor_run()
        assert night.fired == [] and night.deferred == 1
        clock.move_to(datetime(2026, 3, 8, 12, 0, tzinfo=BERLIN))  # Sunday: still closed
        assert sla_monitor_run().fired == []
        clock.move_to(datetime(2026, 3, 9, 8, 0, 30, tzinfo=BERLIN))  # Monday 08:00
        monday = sla_monitor_run()
    assert [pct for _, _, pct in monday.fired] == [50, 75, 100]
    assert Escalation.objects.get(incident=incident).state == S.REQUESTED


def test_p1_pages_at_any_hour(initiator, support_user, service):
    with time_machine.travel(datetime(2026, 3, 7, 2, 0, tzinfo=BERLIN), tick=False) as clock:
        incident = report_p1(initiator, service)
        incident_start_work(incident=incident, actor=support_user)
        clock.shift(timedelta(hours=2, minutes=1))
        assert sla_monitor_run().fired == [(incident.pk, "resolution", 50)]


def test_the_monitor_runs_every_minute_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["sla-monitor"]
    assert entry["task"] == "incidents.sla_monitor"
    assert entry["schedule"] == 60.0


def test_the_beat_task_runs_the_monitor(initiator, support_user, service):
    from incidents.tasks import sla_monitor

    with time_machine.travel(T0, tick=False) as clock:
        incident = report_p1(initiator, service)
        clock.shift(timedelta(minutes=8))
        sla_monitor.apply()
    assert Escalation.objects.get(incident=incident).state == S.IMMINENT


@pytest.mark.parametrize("runs", [1, 3])
def test_no_due_clocks_is_one_query(db, django_assert_num_queries, runs):
    for _ in range(runs):
        with django_assert_num_queries(1):
            assert sla_monitor_run().due == 0
