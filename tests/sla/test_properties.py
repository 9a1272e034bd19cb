"""Properties of timer arithmetic that must hold for any calendar and any history."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from incidents.calendars import ALWAYS, Calendar
from incidents.models import SLAEvent
from incidents.sla import _replay, _timer_status

Kind = SLAEvent.Kind
T0 = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)  # spans the March DST changes of both zones

calendars = st.one_of(
    st.just(ALWAYS),
    st.builds(
        lambda zone, opens, length, days: Calendar(
            name="Office",
            always=False,
            time_zone=zone,
            hours={d: ((time(opens), time(min(opens + length, 23))),) for d in days},
        ),
        st.sampled_from(["Europe/Berlin", "America/New_York"]),
        st.integers(6, 12),
        st.integers(2, 10),
        st.sets(st.integers(0, 6), min_size=1),
    ),
)
# Minutes between successive pause / resume events.
gaps = st.lists(st.integers(1, 3 * 24 * 60), max_size=6)
targets = st.integers(15 * 60, 5 * 24 * 3600)


def history(start_offset: int, steps: list[int]) -> list[SimpleNamespace]:
    at = T0 + timedelta(minutes=start_offset)
    events = [SimpleNamespace(kind=Kind.START, at=at, reason="", calendar_id=None)]
    for index, minutes in enumerate(steps):
        at += timedelta(minutes=minutes)
        kind = Kind.PAUSE if index % 2 == 0 else Kind.RESUME
        events.append(SimpleNamespace(kind=kind, at=at, reason="", calendar_id=None))
    return events


def status(events, calendar, target, at):
    replay = _replay(events, at, calendar_of=lambda _event: calendar)
    return _timer_status(
        timer="resolution", replay=replay, target_seconds=target, warnings=(50, 75), at=at
    )


@settings(max_examples=60, deadline=None)
@given(calendars, st.integers(0, 7 * 24 * 60), gaps, targets, st.integers(0, 20 * 24 * 60))
def test_a_due_time_is_never_before_its_start(calendar, offset, steps, target, look):
    events = history(offset, steps)
    at = events[-1].at + timedelta(minutes=look)
    result = status(events, calendar, target, at)
    assert result.due_at is not None
    assert result.due_at >= events[0].at


@settings(max_examples=60, deadline=None)
@given(calendars, st.integers(0, 7 * 24 * 60), targets, st.integers(1, 5 * 24 * 60),
       st.integers(0, 5 * 24 * 60))  # fmt: skip
def test_pausing_never_brings_a_due_time_earlier(calendar, running, target, paused_for, look):
    start = [SimpleNamespace(kind=Kind.START, at=T0, reason="", calendar_id=None)]
    pause_at = T0 + timedelta(minutes=running)
    before = status(start, calendar, target, pause_at)
    paused = [*start, SimpleNamespace(kind=Kind.PAUSE, at=pause_at, reason="", calendar_id=None)]
    during = status(paused, calendar, target, pause_at + timedelta(minutes=paused_for))
    resume_at = pause_at + timedelta(minutes=paused_for)
    resumed = [*paused, SimpleNamespace(kind=Kind.RESUME, at=resume_at, reason="",
                                        calendar_id=None)]  # fmt: skip
    after = status(resumed, calendar, target, resume_at + timedelta(minutes=look))
    assert during.due_at >= before.due_at
    assert after.due_at >= before.due_at


@settings(max_examples=60, deadline=None)
@given(calendars, gaps, targets, st.lists(st.integers(0, 20 * 24 * 60), min_size=2, max_size=8))
def test_the_consumed_share_grows_while_running_and_holds_while_paused(
    calendar, steps, target, looks
):
    events = history(0, steps)
    moments = sorted(T0 + timedelta(minutes=m) for m in looks)
    shares = [status(events, calendar, target, m).share for m in moments]
    for earlier, later, a, b in zip(moments, moments[1:], shares, shares[1:], strict=False):
        assert b >= a - 1e-9  # never decreases
        state = _replay(events, earlier, calendar_of=lambda _event: calendar).state
        untouched = not any(earlier < e.at <= later for e in events)
        if state == "paused" and untouched:
            assert b == a  # a paused timer does not move
