"""Working-time arithmetic on calendars: hours, weekends, holidays and DST."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from incidents.calendars import ALWAYS, Calendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_17 = {day: ((time(9), time(17)),) for day in range(5)}


def office(zone: str, country: str = "", custom=None) -> Calendar:
    return Calendar(
        name=f"Office {zone}", always=False, time_zone=zone, hours=WEEKDAYS_9_TO_17,
        country=country, custom_holidays=custom or {},
    )  # fmt: skip


def local(zone, *args) -> datetime:
    return datetime(*args, tzinfo=zone)


def test_24x7_counts_every_second():
    start = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    assert ALWAYS.add(start, 3600) == start + timedelta(hours=1)
    assert ALWAYS.seconds_between(start, start + timedelta(days=2)) == 2 * 86400


def test_an_hour_left_at_friday_close_is_due_monday_morning():
    calendar = office("Europe/Berlin")
    friday_4pm = local(BERLIN, 2026, 3, 6, 16, 0)  # a Friday
    due = calendar.add(friday_4pm, 2 * 3600)
    assert due == local(BERLIN, 2026, 3, 9, 10, 0)  # Monday 10:00
    assert calendar.seconds_between(friday_4pm, due) == 2 * 3600


def test_time_reported_at_night_starts_counting_at_opening():
    calendar = office("Europe/Berlin")
    night = local(BERLIN, 2026, 3, 10, 23, 30)
    assert calendar.add(night, 30 * 60) == local(BERLIN, 2026, 3, 11, 9, 30)
    assert calendar.seconds_between(night, local(BERLIN, 2026, 3, 11, 9, 0)) == 0


def test_german_public_holidays_do_not_count():
    calendar = office("Europe/Berlin", country="DE")
    # Maundy Thursday 2026-04-02 16:00; Good Friday and Easter Monday are holidays.
    start = local(BERLIN, 2026, 4, 2, 16, 0)
    assert calendar.add(start, 2 * 3600) == local(BERLIN, 2026, 4, 7, 10, 0)
    assert calendar.holiday_name(date(2026, 4, 3)) == "Good Friday"


def test_custom_closure_days_do_not_count():
    calendar = office("Europe/Berlin", custom={date(2026, 3, 11): "Company offsite"})
    start = local(BERLIN, 2026, 3, 10, 16, 0)
    assert calendar.add(start, 2 * 3600) == local(BERLIN, 2026, 3, 12, 10, 0)
    (gap,) = calendar.closed_gaps(start, local(BERLIN, 2026, 3, 12, 10, 0))
    assert "Company offsite" in calendar.describe_gap(*gap)


def test_berlin_spring_forward_keeps_local_opening_hours():
    calendar = office("Europe/Berlin")
    # DST starts Sunday 2026-03-29: Friday 09:00 is 08:00 UTC, Monday 09:00 is 07:00 UTC.
    friday_4pm = local(BERLIN, 2026, 3, 27, 16, 0)
    due = calendar.add(friday_4pm, 2 * 3600)
    assert due == local(BERLIN, 2026, 3, 30, 10, 0)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    # The weekend is 64 wall-clock hours in local time but one hour less in real time.
    assert (due - friday_4pm) == timedelta(hours=65)


def test_new_york_fall_back_keeps_local_opening_hours():
    calendar = office("America/New_York", country="US")
    # DST ends Sunday 2026-11-01 in New York.
    friday_4pm = local(NEW_YORK, 2026, 10, 30, 16, 0)
    due = calendar.add(friday_4pm, 2 * 3600)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 11, 2, 10, 0)
    assert due.astimezone(UTC) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert (due - friday_4pm) == timedelta(hours=67)


def test_new_york_thanksgiving_is_a_holiday():
    calendar = office("America/New_York", country="US")
    wednesday_4pm = local(NEW_YORK, 2026, 11, 25, 16, 0)
    assert calendar.add(wednesday_4pm, 2 * 3600) == local(NEW_YORK, 2026, 11, 27, 10, 0)


def test_open_and_next_open():
    calendar = office("Europe/Berlin")
    saturday = local(BERLIN, 2026, 3, 7, 12, 0)
    assert not calendar.is_open(saturday)
    assert calendar.next_open(saturday) == local(BERLIN, 2026, 3, 9, 9, 0)
    assert calendar.is_open(local(BERLIN, 2026, 3, 9, 9, 0))
