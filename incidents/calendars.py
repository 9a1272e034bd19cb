"""Working-time arithmetic: how much of a span is covered by a calendar, and when a budget
of covered time runs out.

A calendar is either 24x7 (every second counts) or business hours per weekday in one time
zone, minus public holidays of a country (the `holidays` package) and custom dates. All
inputs and outputs are aware datetimes; results are in UTC. Opening hours are built in
the calendar's zone for each local date, so a clock that opens at 08:00 opens at 08:00
local time on both sides of a daylight-saving change.

This module is pure Python: `calendar_for()` builds one from the database rows and keeps
it in a small cache keyed by the row's `updated_at`, so an edit is seen at once.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_lib

# A calendar with no opening hours at all would never reach a due time: stop searching
# after this many days and treat the rest as closed forever (the admin form forbids it).
MAX_SEARCH_DAYS = 3 * 366


@dataclass(frozen=True)
class Calendar:
    """Working time. `hours` maps weekday (0 = Monday) to (opens, closes) local times."""

    name: str = "24x7"
    always: bool = True
    time_zone: str = "UTC"
    hours: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    country: str = ""
    subdivision: str = ""
    custom_holidays: dict[date, str] = field(default_factory=dict)
    key: Any = None  # identity for caches: (pk, updated_at) when built from the database

    def __hash__(self) -> int:
        return hash((self.name, self.always, self.time_zone, self.country, self.key))

    # --- holidays -------------------------------------------------------------

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @cached_property
    def _public(self) -> holidays_lib.HolidayBase | None:
        if not self.country:
            return None
        # expand=True (the default) adds each year on first lookup.
        return holidays_lib.country_holidays(self.country, subdiv=self.subdivision or None)

    def holiday_name(self, day: date) -> str | None:
        if day in self.custom_holidays:
            return self.custom_holidays[day]
        if self._public is not None and day in self._public:
            return self._public.get(day)
        return None

    # --- opening intervals ------------------------------------------------------

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if self.holiday_name(day):
            return []
        spans = []
        for opens, closes in self.hours.get(day.weekday(), ()):
            start = datetime.combine(day, opens, tzinfo=self.zone).astimezone(UTC)
            if closes == time(0, 0):  # "until midnight"
                end_local = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=self.zone)
            else:
                end_local = datetime.combine(day, closes, tzinfo=self.zone)
            end = end_local.astimezone(UTC)
            if end > start:
                spans.append((start, end))
        return sorted(spans)

    def open_intervals(self, start: datetime, end: datetime | None = None) -> Iterator[tuple]:
        """Yield the open (start, end) UTC intervals from `start` on, clipped to `end`."""
        if self.always:
            yield (start, end) if end is not None else (start, None)
            return
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last_day = day + timedelta(days=MAX_SEARCH_DAYS)
        if end is not None:
            last_day = min(last_day, end.astimezone(self.zone).date() + timedelta(days=1))
        while day <= last_day:
            for opens, closes in self._day_intervals(day):
                if closes <= start:
                    continue
                if end is not None and opens >= end:
                    return
                yield max(opens, start), closes if end is None else min(closes, end)
            day += timedelta(days=1)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end)."""
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        return sum((b - a).total_seconds() for a, b in self.open_intervals(start, end))

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment at which `seconds` of working time after `start` have passed."""
        if self.always:
            return start + timedelta(seconds=seconds)
        if seconds <= 0:
            return self.next_open(start)
        left = seconds
        for opens, closes in self.open_intervals(start):
            length = (closes - opens).total_seconds()
            if length >= left:
                return opens + timedelta(seconds=left)
            left -= length
        raise ValueError(f"The calendar '{self.name}' has no opening hours to reach a due time.")

    def is_open(self, at: datetime) -> bool:
        if self.always:
            return True
        return any(a <= at < b for a, b in self.open_intervals(at, at + timedelta(seconds=1)))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the next opening."""
        if self.always:
            return at
        for opens, _closes in self.open_intervals(at):
            return opens
        raise ValueError(f"The calendar '{self.name}' never opens.")

    def closed_gaps(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The closed stretches inside [start, end): nights, weekends, holidays."""
        if self.always or end <= start:
            return []
        gaps, cursor = [], start
        for opens, closes in self.open_intervals(start, end):
            if opens > cursor:
                gaps.append((cursor, opens))
            cursor = max(cursor, closes)
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def describe_gap(self, start: datetime, end: datetime) -> str:
        """Why the clock stood still, in words: weekend, holiday or outside hours."""
        local_start = start.astimezone(self.zone)
        local_end = end.astimezone(self.zone)
        day = local_start.date()
        names = []
        while day <= local_end.date():
            name = self.holiday_name(day)
            if name and name not in names:
                names.append(name)
            day += timedelta(days=1)
        if names:
            return "Public holiday or closure: " + ", ".join(names)
        if (local_end - local_start) >= timedelta(hours=24) or local_start.weekday() >= 5:
            return "Weekend: outside business hours"
        return "Outside business hours"


ALWAYS = Calendar()

_cache: dict[Any, Calendar] = {}


def calendar_cache_clear() -> None:
    _cache.clear()


def calendar_for(row: Any) -> Calendar:
    """The Calendar for a BusinessCalendar row (None means 24x7)."""
    if row is None:
        return ALWAYS
    key = (row.pk, row.updated_at)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    if row.kind == row.Kind.ALWAYS:
        calendar = Calendar(name=row.name, key=key)
    else:
        hours: dict[int, list[tuple[time, time]]] = {}
        for span in row.hours.all():
            hours.setdefault(span.weekday, []).append((span.opens, span.closes))
        calendar = Calendar(
            name=row.name,
            always=False,
            time_zone=row.time_zone,
            hours={day: tuple(sorted(spans)) for day, spans in hours.items()},
            country=row.holiday_country,
            subdivision=row.holiday_subdivision,
            custom_holidays={h.date: h.name for h in row.custom_holidays.all()},
            key=key,
        )
    if len(_cache) > 256:
        _cache.clear()
    _cache[key] = calendar
    return calendar
