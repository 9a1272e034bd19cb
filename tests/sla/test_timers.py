"""Timers kept as events: what support sees as due, consumed and explained, over time."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template.loader import render_to_string

from incidents.models import CalendarHoliday, Incident, SLAEvent, SLATimer
from incidents.services.incidents import (
    incident_add_comment,
    incident_add_progress_note,
    incident_change_priority,
    incident_put_on_hold,
    incident_reopen,
    incident_report,
    incident_resolve,
    incident_resume,
    incident_start_work,
)
from incidents.sla import (
    incident_annotate_stale,
    sla_explain,
    sla_explained,
    sla_recompute_open,
    sla_resolution_consumed,
    sla_status,
)

from .conftest import use_policy

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def report(initiator, service, impact=2, urgency=2) -> Incident:
    return incident_report(
        initiator=initiator, title="VPN drops", description="Every ten minutes",
        service=service, impact=impact, urgency=urgency,
    )  # fmt: skip


@pytest.fixture
def clock():
    with time_machine.travel(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


def test_a_24x7_incident_is_due_after_its_targets(clock, initiator, service):
    incident = report(initiator, service)  # P3: 60 min response, 24 h resolution
    assert incident.response_due == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert incident.resolution_due == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    clock.shift(timedelta(hours=6))
    status = sla_status(incident=incident)
    assert status.resolution.share == pytest.approx(0.25)
    assert status.resolution.time_left == timedelta(hours=18)
    assert status.response.breached
    assert status.response.overdue == timedelta(hours=5)
    assert sla_resolution_consumed(incident) == pytest.approx(0.25)


def test_on_hold_pauses_resolution_and_the_callers_answer_resumes_it(
    clock, initiator, support_user, service
):
    incident = report(initiator, service)
    incident_start_work(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=2))
    incident_put_on_hold(incident=incident, actor=support_user, reason="Need the VPN log")
    clock.shift(timedelta(hours=5))
    paused = sla_status(incident=incident)
    assert paused.resolution.is_paused
    assert paused.resolution.consumed == timedelta(hours=2)
    incident_add_comment(incident=incident, actor=initiator, comment="Log attached")
    incident.refresh_from_db()
    assert incident.status == Incident.Status.IN_PROGRESS
    assert incident.resolution_due == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)  # 5 h later
    clock.shift(timedelta(hours=1))
    assert sla_status(incident=incident).resolution.consumed == timedelta(hours=3)
    explained = sla_explain(incident=incident)
    pause = next(e for e in explained if e.kind == "pause")
    assert "Need the VPN log" in pause.detail
    assert any(e.kind == "resume" and "caller answered" in e.detail for e in explained)


def test_responding_stops_the_response_timer_within_target(clock, initiator, support_user, service):
    incident = report(initiator, service)
    clock.shift(timedelta(minutes=20))
    incident_start_work(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=3))
    response = sla_status(incident=incident).response
    assert response.state == "stopped"
    assert not response.breached
    assert response.consumed == timedelta(minutes=20)


def test_priority_raised_mid_life_keeps_the_paused_time(clock, initiator, support_user, service):
    incident = report(initiator, service)  # P3: 24 h
    incident_start_work(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=1))
    incident_put_on_hold(incident=incident, actor=support_user, reason="Waiting for the user")
    clock.shift(timedelta(hours=3))
    incident_resume(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=1))

    incident = incident_change_priority(
        incident=incident, actor=support_user, impact=1, urgency=2, reason="Whole floor affected"
    )
    assert incident.priority == 2  # P2: 8 h resolution
    status = sla_status(incident=incident)
    assert status.resolution.consumed == timedelta(hours=2)  # 1 h + 1 h; 3 h on hold excluded
    # Started 08:00, 3 h paused, 8 h target: due 19:00 UTC.
    assert incident.resolution_due == datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    assert status.resolution.share == pytest.approx(0.25)
    assert any(e.kind == "target" and "P3" in e.detail for e in sla_explain(incident=incident))


def test_reopen_continues_the_resolution_timer(clock, initiator, support_user, service):
    incident = report(initiator, service)
    incident_start_work(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=4))
    incident_resolve(incident=incident, actor=support_user, note="Reset the tunnel")
    clock.shift(timedelta(hours=10))
    incident_reopen(incident=incident, actor=initiator, reason="It drops again")
    clock.shift(timedelta(hours=1))
    resolution = sla_status(incident=incident).resolution
    assert resolution.is_running
    assert resolution.consumed == timedelta(hours=5)


def test_business_hours_in_berlin_skip_nights_weekends_and_holidays(
    initiator, service, berlin_office
):
    use_policy(3, calendar=berlin_office, resolution_minutes=8 * 60)  # one working day
    CalendarHoliday.objects.create(calendar=berlin_office, date=date(2026, 3, 9), name="Offsite")
    # Friday 15:00 Berlin: 2 h on Friday, Monday closed, 6 h on Tuesday.
    with time_machine.travel(datetime(2026, 3, 6, 15, 0, tzinfo=BERLIN), tick=False) as clock:
        incident = report(initiator, service)
        assert incident.resolution_due == datetime(2026, 3, 10, 15, 0, tzinfo=BERLIN)
        clock.move_to(datetime(2026, 3, 9, 12, 0, tzinfo=BERLIN))
        status = sla_status(incident=incident)
        assert status.resolution.consumed == timedelta(hours=2)
        gaps = [e for e in sla_explain(incident=incident) if e.kind == "gap"]
        assert any("Offsite" in g.detail for g in gaps)


def test_business_hours_across_dst_in_new_york(initiator, service, new_york_office):
    use_policy(3, calendar=new_york_office, resolution_minutes=4 * 60)
    # Friday 2026-03-06 15:00 EST; DST starts Sunday 2026-03-08.
    with time_machine.travel(datetime(2026, 3, 6, 15, 0, tzinfo=NEW_YORK), tick=False):
        incident = report(initiator, service)
    # 2 h Friday, 2 h Monday: Monday 11:00 EDT is 15:00 UTC (it was 20:00 UTC on Friday).
    assert incident.resolution_due == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


def test_a_services_calendar_wins_and_a_change_keeps_past_time_counted(
    initiator, support_user, service, berlin_office
):
    use_policy(3, resolution_minutes=8 * 60)  # 24x7
    monday_9 = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)
    with time_machine.travel(monday_9, tick=False) as clock:
        incident = report(initiator, service)
        incident_start_work(incident=incident, actor=support_user)
        clock.move_to(datetime(2026, 3, 2, 13, 0, tzinfo=BERLIN))  # 4 h used, 24x7
        service.calendar = berlin_office  # 09:00-17:00
        service.save()
        sla_recompute_open(incidents=Incident.objects.all(), reason="Service calendar changed")
        incident.refresh_from_db()
        # 4 h left in office hours: 13:00-17:00 on Monday.
        assert incident.resolution_due == datetime(2026, 3, 2, 17, 0, tzinfo=BERLIN)
        clock.move_to(datetime(2026, 3, 2, 20, 0, tzinfo=BERLIN))
        status = sla_status(incident=incident)
        assert status.resolution.consumed == timedelta(hours=8)
        assert status.resolution.breached
        kinds = [e.kind for e in SLAEvent.objects.filter(timer=SLATimer.RESOLUTION)]
        assert kinds == ["start", "target", "calendar"]


def test_stale_when_no_progress_note_for_longer_than_the_priority_allows(
    clock, initiator, support_user, service
):
    quiet = report(initiator, service)  # P3: stale after 8 h
    busy = report(initiator, service)
    clock.shift(timedelta(hours=7))
    incident_add_progress_note(incident=busy, actor=support_user, note="Checking the gateway")
    clock.shift(timedelta(hours=2))
    flags = dict(incident_annotate_stale(Incident.objects.all()).values_list("pk", "is_stale"))
    assert flags == {quiet.pk: True, busy.pk: False}


def test_the_explanation_renders_for_the_incident_page(clock, initiator, support_user, service):
    incident = report(initiator, service)
    incident_start_work(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=13))
    html = render_to_string(
        "incidents/_sla_explained.html", {"sla": sla_explained(incident=incident)}
    )
    assert "The resolution timer started" in html
    assert "50 % of the resolution target used" in html
    assert "75 % of the resolution target will be used" in html
    assert "54 %" in html


def test_the_queues_share_of_the_target_agrees_with_the_sla_engine(
    clock, initiator, support_user, service
):
    """The support queue computes the SLA bar from the loaded row (incidents.selectors):
    on a 24x7 calendar it must say what sla_status says, running and paused."""
    from django.utils import timezone

    from incidents.selectors import sla_used_share

    incident = report(initiator, service)  # P3: 24 h resolution
    incident_start_work(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=6))
    incident.refresh_from_db()
    assert sla_used_share(incident, now=timezone.now()) == pytest.approx(0.25)
    incident_put_on_hold(incident=incident, actor=support_user, reason="Need the VPN log")
    clock.shift(timedelta(hours=3))
    incident.refresh_from_db()
    assert sla_used_share(incident, now=timezone.now()) == pytest.approx(
        sla_resolution_consumed(incident)
    )
    assert sla_used_share(incident, now=timezone.now()) == pytest.approx(0.25)  # paused
    incident_resume(incident=incident, actor=support_user)
    clock.shift(timedelta(hours=6))
    incident.refresh_from_db()
    assert sla_used_share(incident, now=timezone.now()) == pytest.approx(0.5)
    assert sla_resolution_consumed(incident) == pytest.approx(0.5)
