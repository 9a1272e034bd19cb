from datetime import time

import pytest

from incidents.calendars import calendar_cache_clear
from incidents.models import BusinessCalendar, BusinessHours, CalendarHoliday, SLAPolicy


@pytest.fixture(autouse=True)
def _fresh_calendars():
    # Database ids are reused between tests; the cache must not outlive one.
    calendar_cache_clear()
    yield
    calendar_cache_clear()


def office_calendar(
    name: str, zone: str, country: str = "", opens=time(9), closes=time(17), holidays=()
) -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(
        name=name, kind=BusinessCalendar.Kind.BUSINESS_HOURS, time_zone=zone,
        holiday_country=country,
    )  # fmt: skip
    BusinessHours.objects.bulk_create(
        BusinessHours(calendar=calendar, weekday=day, opens=opens, closes=closes)
        for day in range(5)
    )
    for day, label in holidays:
        CalendarHoliday.objects.create(calendar=calendar, date=day, name=label)
    return calendar


@pytest.fixture
def berlin_office(db):
    return office_calendar("Berlin office", "Europe/Berlin", country="DE")


@pytest.fixture
def new_york_office(db):
    return office_calendar("New York office", "America/New_York", country="US")


def use_policy(priority: int, **fields) -> SLAPolicy:
    policy = SLAPolicy.objects.get(priority=priority)
    for key, value in fields.items():
        setattr(policy, key, value)
    policy.save()
    calendar_cache_clear()
    return policy
