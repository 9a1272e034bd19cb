"""The SLA engine: timers kept as events, due times recomputed from them, and the numbers
the queue bars, the entitlement check and the incident page show.

Each incident has two timers, response and resolution. Each timer is a list of events
(start, pause with a reason, resume, stop, calendar changed, target changed). Everything
else is derived by replaying them:

- the running stretches, each counted in the calendar that was in force then (a calendar
  change in mid-life does not rewrite the past);
- the consumed time, against the target of the incident's *current* priority (a priority
  change applies from the start, and time spent paused stays excluded);
- the moment each warning threshold and the breach is (or was) reached.

`sla_sync()` is called by the incident services inside their transaction after every
change; it appends the events the new status implies and stores the results:
Incident.response_due / resolution_due (UTC, indexed, what queues sort by) and one
SLAClock row per timer (what the monitor scans).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.utils import timezone

from incidents.calendars import ALWAYS, Calendar, calendar_for
from incidents.models import (
    BusinessCalendar,
    Incident,
    SLAClock,
    SLAEvent,
    SLAPolicy,
    SLAThresholdCrossing,
    SLATimer,
)

# Used when an administrator deleted a priority's policy: never leave an incident untimed.
FALLBACK_TARGETS = {1: (15, 240), 2: (30, 480), 3: (60, 1440), 4: (240, 4320), 5: (480, 10080)}
DEFAULT_WARNINGS = [50, 75]
BREACH = 100
TIMERS = (SLATimer.RESPONSE, SLATimer.RESOLUTION)
Kind = SLAEvent.Kind
State = SLAClock.State


# --- policies -----------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    response: timedelta
    resolution: timedelta
    warnings: tuple[int, ...]


def _warnings(values: Iterable[Any] | None) -> tuple[int, ...]:
    cleaned = sorted({int(v) for v in (values or DEFAULT_WARNINGS) if 0 < int(v) < BREACH})
    return tuple(cleaned)


def _policies() -> dict[int, SLAPolicy]:
    rows = SLAPolicy.objects.select_related("calendar", "reminder_calendar")
    return {policy.priority: policy for policy in rows}


def _policy_or_fallback(policies: dict[int, SLAPolicy], priority: int) -> SLAPolicy:
    policy = policies.get(priority)
    if policy is None:
        response, resolution = FALLBACK_TARGETS[priority]
        policy = SLAPolicy(
            priority=priority,
            response_minutes=response,
            resolution_minutes=resolution,
            warning_percentages=DEFAULT_WARNINGS,
        )
    return policy


def sla_policy_for(*, priority: int) -> SLAPolicy:
    """The policy of a priority (an unsaved default when an administrator deleted it)."""
    return _policy_or_fallback(_policies(), priority)


def sla_policies() -> dict[int, SLAPolicy]:
    """Every priority's policy in one query, for pages that show many incidents."""
    rows = _policies()
    return {priority: _policy_or_fallback(rows, priority) for priority in FALLBACK_TARGETS}


def sla_targets(*, priority: int) -> Targets:
    policy = sla_policy_for(priority=priority)
    return Targets(
        timedelta(minutes=policy.response_minutes),
        timedelta(minutes=policy.resolution_minutes),
        _warnings(policy.warning_percentages),
    )


def _target_seconds(policy: SLAPolicy, timer: str) -> int:
    minutes = policy.response_minutes if timer == SLATimer.RESPONSE else policy.resolution_minutes
    return max(60, int(minutes) * 60)


def sla_calendar_row(*, incident: Incident, policy: SLAPolicy) -> BusinessCalendar | None:
    """A service's own calendar wins over its priority's policy; none means 24x7."""
    service = incident.service
    if service.calendar_id:
        return service.calendar
    return policy.calendar if policy.calendar_id else None


def sla_due_times(*, priority: int, start: datetime) -> tuple[datetime, datetime]:
    """Due times of a timer starting now, in the policy's calendar (kept for callers that
    only need a first estimate; incidents get theirs from `sla_sync`)."""
    policy = sla_policy_for(priority=priority)
    calendar = calendar_for(policy.calendar) if policy.calendar_id else ALWAYS
    return (
        calendar.add(start, _target_seconds(policy, SLATimer.RESPONSE)),
        calendar.add(start, _target_seconds(policy, SLATimer.RESOLUTION)),
    )


# --- replaying one timer's events ---------------------------------------------------


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime | None  # None: still running
    calendar: Calendar


@dataclass(frozen=True)
class Pause:
    start: datetime
    end: datetime | None
    reason: str


@dataclass
class Replay:
    state: str | None = None  # None: never started
    segments: list[Segment] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    calendar: Calendar = ALWAYS
    calendar_id: int | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    events: list[Any] = field(default_factory=list)


def _replay(
    events: Iterable[Any], at: datetime, calendar_of: Callable[[Any], Calendar] | None = None
) -> Replay:
    """Replay one timer's events up to `at`. `calendar_of(event)` gives the calendar a start
    or calendar event switches to (default: from its database row)."""
    calendar_of = calendar_of or _calendar_of
    replay = Replay()
    seg_start: datetime | None = None
    pause_start: datetime | None = None
    pause_reason = ""
    for event in events:
        if event.at > at:
            break
        replay.events.append(event)
        kind = event.kind
        if kind == Kind.START and replay.state is None:
            replay.state = State.RUNNING
            replay.started_at = seg_start = event.at
            replay.calendar = calendar_of(event)
            replay.calendar_id = event.calendar_id
        elif kind == Kind.CALENDAR:
            if replay.state == State.RUNNING:
                replay.segments.append(Segment(seg_start, event.at, replay.calendar))
                seg_start = event.at
            replay.calendar = calendar_of(event)
            replay.calendar_id = event.calendar_id
        elif kind == Kind.PAUSE and replay.state == State.RUNNING:
            replay.segments.append(Segment(seg_start, event.at, replay.calendar))
            replay.state = State.PAUSED
            pause_start, pause_reason = event.at, event.reason
        elif kind == Kind.RESUME and replay.state in (State.PAUSED, State.STOPPED):
            if replay.state == State.PAUSED:
                replay.pauses.append(Pause(pause_start, event.at, pause_reason))
            replay.state = State.RUNNING
            replay.stopped_at = None
            seg_start = event.at
        elif kind == Kind.STOP and replay.state in (State.RUNNING, State.PAUSED):
            if replay.state == State.RUNNING:
                replay.segments.append(Segment(seg_start, event.at, replay.calendar))
            else:
                replay.pauses.append(Pause(pause_start, event.at, pause_reason))
            replay.state = State.STOPPED
            replay.stopped_at = event.at
    if replay.state == State.RUNNING:
        replay.segments.append(Segment(seg_start, None, replay.calendar))
    elif replay.state == State.PAUSED:
        replay.pauses.append(Pause(pause_start, None, pause_reason))
    return replay


def _calendar_of(event: Any) -> Calendar:
    row = getattr(event, "calendar", None) if event.calendar_id else None
    return calendar_for(row)


def _consumed(replay: Replay, at: datetime) -> float:
    total = 0.0
    for segment in replay.segments:
        end = at if segment.end is None else min(segment.end, at)
        total += segment.calendar.seconds_between(segment.start, end)
    return total


def _moment_of(replay: Replay, seconds: float) -> datetime | None:
    """When the consumed time reaches `seconds` (in the past or, while running, ahead)."""
    before = 0.0
    for segment in replay.segments:
        if segment.end is None:
            try:
                return segment.calendar.add(segment.start, seconds - before)
            except ValueError:  # a calendar that never opens again
                return None
        length = segment.calendar.seconds_between(segment.start, segment.end)
        if before + length >= seconds:
            return segment.calendar.add(segment.start, seconds - before)
        before += length
    return None


# --- the numbers for one timer --------------------------------------------------------


@dataclass(frozen=True)
class TimerStatus:
    """One timer at one moment: what the SLA bar, the entitlement check and the monitor use."""

    timer: str
    state: str | None  # running / paused / stopped, None before it started
    target: timedelta
    consumed: timedelta
    due_at: datetime | None  # while paused: the due time if it resumed now
    breached_at: datetime | None
    thresholds: tuple[tuple[int, datetime | None], ...]  # (percentage, reached/expected at)
    at: datetime

    @property
    def label(self) -> str:
        return SLATimer(self.timer).label

    @property
    def share(self) -> float:
        """Consumed share of the target: 1.0 is due now, above 1.0 breached."""
        seconds = self.target.total_seconds()
        return self.consumed.total_seconds() / seconds if seconds else 1.0

    @property
    def percent(self) -> int:
        return int(self.share * 100)

    @property
    def breached(self) -> bool:
        return self.breached_at is not None

    @property
    def remaining(self) -> timedelta:
        """Working time left; negative when overdue."""
        return self.target - self.consumed

    @property
    def time_left(self) -> timedelta:
        return max(self.remaining, timedelta(0))

    @property
    def overdue(self) -> timedelta:
        return max(-self.remaining, timedelta(0))

    @property
    def is_paused(self) -> bool:
        return self.state == State.PAUSED

    @property
    def is_running(self) -> bool:
        return self.state == State.RUNNING

    @property
    def bar_percent(self) -> int:
        return min(100, self.percent)

    @property
    def time_left_text(self) -> str:
        return _duration(self.time_left)

    @property
    def overdue_text(self) -> str:
        return _duration(self.overdue)

    @property
    def css(self) -> str:
        return {"breached": "danger", "warning": "warning"}.get(self.level, "success")

    @property
    def level(self) -> str:
        """Traffic light for the bar: ok, warning (first threshold passed), breached."""
        if self.breached:
            return "breached"
        first = self.thresholds[0][0] if self.thresholds else BREACH
        return "warning" if self.share * 100 >= first else "ok"


def _timer_status(
    *, timer: str, replay: Replay, target_seconds: int, warnings: tuple[int, ...], at: datetime
) -> TimerStatus:
    consumed = _consumed(replay, at)
    thresholds = tuple(
        (pct, _moment_of(replay, target_seconds * pct / 100)) for pct in (*warnings, BREACH)
    )
    breach_moment = thresholds[-1][1]
    breached_at = breach_moment if breach_moment is not None and breach_moment <= at else None
    if replay.state == State.RUNNING or breached_at is not None:
        due = breach_moment
    elif replay.state == State.PAUSED:
        due = replay.calendar.add(at, target_seconds - consumed)
    elif replay.state == State.STOPPED:
        due = replay.calendar.add(replay.stopped_at, target_seconds - consumed)
    else:
        due = None
    return TimerStatus(
        timer=timer,
        state=replay.state,
        target=timedelta(seconds=target_seconds),
        consumed=timedelta(seconds=consumed),
        due_at=due,
        breached_at=breached_at,
        thresholds=thresholds,
        at=at,
    )


@dataclass(frozen=True)
class SLAStatus:
    response: TimerStatus
    resolution: TimerStatus
    policy: SLAPolicy
    replays: dict[str, Replay]

    def __iter__(self):
        return iter((self.response, self.resolution))


def _synthesised_events(incident: Incident) -> list[Any]:
    """Incidents written before timers were events (or by bulk loads): rebuild a history
    from their fields, so every incident has numbers."""

    def ev(timer, kind, at, reason=""):
        return SimpleNamespace(
            timer=timer, kind=kind, at=at, reason=reason, calendar_id=None, calendar=None
        )

    events = []
    for timer in TIMERS:
        events.append(ev(timer, Kind.START, incident.created_at, "Reported"))
    if incident.responded_at:
        events.append(ev(SLATimer.RESPONSE, Kind.STOP, incident.responded_at, "Responded"))
    if incident.on_hold_since:
        events.append(ev(SLATimer.RESOLUTION, Kind.PAUSE, incident.on_hold_since, "On hold"))
    if incident.resolved_at:
        events.append(ev(SLATimer.RESOLUTION, Kind.STOP, incident.resolved_at, "Resolved"))
    return sorted(events, key=lambda e: e.at)


def _status_from(
    incident: Incident, events: list[Any], policy: SLAPolicy, at: datetime
) -> SLAStatus:
    if not events:
        events = _synthesised_events(incident)
    warnings = _warnings(policy.warning_percentages)
    statuses, replays = {}, {}
    for timer in TIMERS:
        replay = _replay((e for e in events if e.timer == timer), at)
        replays[timer] = replay
        statuses[timer] = _timer_status(
            timer=timer,
            replay=replay,
            target_seconds=_target_seconds(policy, timer),
            warnings=warnings,
            at=at,
        )
    return SLAStatus(
        response=statuses[SLATimer.RESPONSE],
        resolution=statuses[SLATimer.RESOLUTION],
        policy=policy,
        replays=replays,
    )


def _events_of(incident_ids: list[int]) -> dict[int, list[SLAEvent]]:
    grouped: dict[int, list[SLAEvent]] = {pk: [] for pk in incident_ids}
    rows = (
        SLAEvent.objects.filter(incident_id__in=incident_ids)
        .select_related("calendar")
        .order_by("at", "pk")
    )
    for event in rows:
        grouped[event.incident_id].append(event)
    return grouped


def sla_status(*, incident: Incident, at: datetime | None = None) -> SLAStatus:
    """Both timers of one incident at a moment (default: now)."""
    at = at or timezone.now()
    events = _events_of([incident.pk])[incident.pk]
    policy = sla_policy_for(priority=incident.priority)
    return _status_from(incident, events, policy, at)


# --- for the entitlement check and the incident page ------------------------------


def sla_resolution_consumed(incident: Incident, *, now: datetime | None = None) -> float:
    """Share of the resolution target used so far (1.0 = due now, above 1.0 = breached)."""
    return sla_status(incident=incident, at=now).resolution.share


# --- writing: events in, due times and clocks out ------------------------------------


def _wanted_states(incident: Incident) -> dict[str, str]:
    """What each timer should be doing in the incident's current status."""
    status = incident.status
    response = (
        State.RUNNING
        if status == Incident.Status.NEW and incident.responded_at is None
        else State.STOPPED
    )
    if status in (Incident.Status.NEW, Incident.Status.IN_PROGRESS):
        resolution = State.RUNNING
    elif status == Incident.Status.ON_HOLD:
        resolution = State.PAUSED
    else:
        resolution = State.STOPPED
    return {SLATimer.RESPONSE: response, SLATimer.RESOLUTION: resolution}


MOVES = {
    (State.RUNNING, State.PAUSED): Kind.PAUSE,
    (State.RUNNING, State.STOPPED): Kind.STOP,
    (State.PAUSED, State.RUNNING): Kind.RESUME,
    (State.PAUSED, State.STOPPED): Kind.STOP,
    (State.STOPPED, State.RUNNING): Kind.RESUME,
}


def sla_sync(
    *,
    incident: Incident,
    actor: Any = None,
    reason: str = "",
    at: datetime | None = None,
    target_changed: str = "",
) -> SLAStatus:
    """Bring the timers in line with the incident and store the derived due times.

    Call inside the service's transaction, with the incident locked. Appends start /
    pause / resume / stop events for the incident's current status, a calendar event when
    the calendar in force changed, and a target event when `target_changed` says why.
    """
    at = at or timezone.now()
    actor = actor if getattr(actor, "is_authenticated", False) else None
    events = _events_of([incident.pk])[incident.pk]
    policy = sla_policy_for(priority=incident.priority)
    calendar_row = sla_calendar_row(incident=incident, policy=policy)
    calendar_id = calendar_row.pk if calendar_row else None
    wanted = _wanted_states(incident)
    new: list[SLAEvent] = []

    def add(timer: str, kind: str, text: str, calendar: Any = None) -> None:
        event = SLAEvent(
            incident=incident, timer=timer, kind=kind, at=at, reason=text[:255],
            calendar=calendar, actor=actor,
        )  # fmt: skip
        new.append(event)
        events.append(event)

    for timer in TIMERS:
        replay = _replay((e for e in events if e.timer == timer), at)
        if replay.state is None:
            add(timer, Kind.START, reason or "Reported", calendar_row)
            if wanted[timer] != State.RUNNING:
                add(timer, MOVES[(State.RUNNING, wanted[timer])], reason)
            continue
        if target_changed and replay.state != State.STOPPED:
            add(timer, Kind.TARGET, target_changed)
        if calendar_id != replay.calendar_id and replay.state != State.STOPPED:
            name = calendar_row.name if calendar_row else "24x7"
            add(timer, Kind.CALENDAR, f"Counted in the calendar '{name}' from now on", calendar_row)
        move = MOVES.get((replay.state, wanted[timer]))
        if move:
            add(timer, move, reason)
    if new:
        SLAEvent.objects.bulk_create(new)
    status = _status_from(incident, events, policy, at)
    _store(incident=incident, status=status, at=at)
    return status


def _store(*, incident: Incident, status: SLAStatus, at: datetime) -> None:
    fired = set(
        SLAThresholdCrossing.objects.filter(incident=incident).values_list("timer", "percentage")
    )
    existing = {c.timer: c for c in SLAClock.objects.filter(incident=incident)}
    for timer_status in status:
        timer = timer_status.timer
        schedule = {}
        if timer_status.state in (State.RUNNING, State.PAUSED):
            for pct, moment in timer_status.thresholds:
                if moment is None or (timer, pct) in fired:
                    continue
                # A paused timer only owes the thresholds it reached before the pause.
                if timer_status.state == State.RUNNING or moment <= at:
                    schedule[str(pct)] = moment.isoformat()
        next_check = min((datetime.fromisoformat(m) for m in schedule.values()), default=None)
        clock = existing.get(timer) or SLAClock(incident=incident, timer=timer)
        clock.state = timer_status.state
        clock.target_seconds = int(timer_status.target.total_seconds())
        clock.due_at = timer_status.due_at or at
        clock.schedule = schedule
        clock.next_check_at = next_check
        clock.save()
    incident.response_due = status.response.due_at or incident.response_due or at
    incident.resolution_due = status.resolution.due_at or incident.resolution_due or at
    if incident.pk:
        Incident.objects.filter(pk=incident.pk).update(
            response_due=incident.response_due, resolution_due=incident.resolution_due
        )


def sla_recompute_open(*, incidents: QuerySet[Incident], reason: str = "") -> int:
    """Recompute the timers of open incidents after a policy, calendar or service edit
    (the admin calls it). Locks each incident in turn; returns how many were updated."""
    from django.db import transaction

    count = 0
    for pk in incidents.filter(status__in=Incident.OPEN_STATUSES).values_list("pk", flat=True):
        with transaction.atomic():
            incident = (
                Incident.objects.select_for_update(of=("self",))
                .select_related("service")
                .get(pk=pk)
            )
            sla_sync(incident=incident, reason=reason, target_changed=reason)
            count += 1
    return count


# --- alerts and staleness --------------------------------------------------------------


def sla_alert_calendar(*, incident: Incident, policy: SLAPolicy) -> Calendar | None:
    """The business hours non-urgent alerts and promises wait for; None: any hour (P1 and
    major incidents, or a policy without a reminder calendar)."""
    if incident.is_major or incident.priority == 1 or not policy.reminder_calendar_id:
        return None
    return calendar_for(policy.reminder_calendar)


def sla_may_alert_now(*, incident: Incident, policy: SLAPolicy, at: datetime) -> bool:
    """Non-urgent alerts wait for business hours; P1 and major incidents page at any hour."""
    calendar = sla_alert_calendar(incident=incident, policy=policy)
    return calendar is None or calendar.is_open(at)


def sla_next_alert_time(*, policy: SLAPolicy, at: datetime) -> datetime:
    if not policy.reminder_calendar_id:
        return at
    return calendar_for(policy.reminder_calendar).next_open(at)


def sla_stale_hours() -> dict[int, int]:
    """Hours without a progress note before an incident is stale, per priority."""
    hours = {int(k): int(v) for k, v in settings.PORTAL["STALE_AFTER_HOURS"].items()}
    for priority, policy in _policies().items():
        if policy.stale_after_hours:
            hours[priority] = policy.stale_after_hours
    return hours


def sla_is_stale(incident: Incident, *, now: datetime, hours: dict[int, int]) -> bool:
    """sla_stale_q for one loaded incident, with the thresholds of sla_stale_hours() read
    once for a whole page."""
    limit = hours.get(incident.priority)
    return (
        incident.status in Incident.OPEN_STATUSES
        and limit is not None
        and incident.last_progress_at < now - timedelta(hours=limit)
    )


def sla_stale_q(*, now: datetime | None = None) -> Q:
    """Open incidents without a progress note for longer than their priority allows."""
    now = now or timezone.now()
    q = Q(pk__in=[])
    for priority, hours in sla_stale_hours().items():
        q |= Q(priority=priority, last_progress_at__lt=now - timedelta(hours=hours))
    return Q(status__in=Incident.OPEN_STATUSES) & q


def incident_annotate_stale(
    queryset: QuerySet[Incident], *, now: datetime | None = None
) -> QuerySet[Incident]:
    """Adds `is_stale` to each incident (one query for the thresholds, then SQL)."""
    return queryset.annotate(
        is_stale=Case(
            When(sla_stale_q(now=now), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


# --- the explanation on the incident page ---------------------------------------------


@dataclass(frozen=True)
class SLAExplainEntry:
    """One line of the SLA explanation: what happened (or will) to which timer, and why."""

    at: datetime
    timer: str  # "response", "resolution"
    kind: str  # start pause resume stop calendar target gap threshold breach deadline
    title: str
    detail: str = ""
    until: datetime | None = None
    future: bool = False

    @property
    def timer_label(self) -> str:
        return SLATimer(self.timer).label

    @property
    def css(self) -> str:
        return {
            "breach": "danger",
            "threshold": "warning",
            "pause": "secondary",
            "gap": "light",
            "deadline": "primary",
            "stop": "success",
        }.get(self.kind, "info")


def _duration(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)


MAX_GAPS = 12


def sla_explain(
    *, incident: Incident, at: datetime | None = None, status: SLAStatus | None = None
) -> list[SLAExplainEntry]:
    """Start, pauses with reasons, business-hours gaps, thresholds, breach and deadlines of
    both timers, oldest first: why the incident stands where it stands."""
    at = at or timezone.now()
    status = status or sla_status(incident=incident, at=at)
    entries: list[SLAExplainEntry] = []
    for timer_status in status:
        timer = timer_status.timer
        replay = status.replays[timer]
        label = SLATimer(timer).label.lower()
        for event in replay.events:
            reason = event.reason or ""
            if event.kind == Kind.START:
                calendar = _calendar_of(event)
                entries.append(SLAExplainEntry(
                    event.at, timer, "start", f"The {label} timer started",
                    f"Target {_duration(timer_status.target)}, counted in '{calendar.name}'.",
                ))  # fmt: skip
            elif event.kind == Kind.PAUSE:
                entries.append(SLAExplainEntry(
                    event.at, timer, "pause", f"The {label} timer paused", reason,
                ))  # fmt: skip
            elif event.kind == Kind.RESUME:
                entries.append(SLAExplainEntry(
                    event.at, timer, "resume", f"The {label} timer runs again", reason,
                ))  # fmt: skip
            elif event.kind == Kind.STOP:
                met = "within" if not timer_status.breached else "after"
                entries.append(SLAExplainEntry(
                    event.at, timer, "stop", f"The {label} timer stopped",
                    f"{reason} ({met} the target).".strip(),
                ))  # fmt: skip
            elif event.kind in (Kind.CALENDAR, Kind.TARGET):
                entries.append(SLAExplainEntry(
                    event.at, timer, event.kind,
                    "Calendar changed" if event.kind == Kind.CALENDAR else "Target changed",
                    reason,
                ))  # fmt: skip
        gaps = []
        for segment in replay.segments:
            end = at if segment.end is None else min(segment.end, at)
            closed = segment.calendar.closed_gaps(segment.start, end)
            gaps.extend((a, b, segment.calendar) for a, b in closed)
        for a, b, calendar in gaps[-MAX_GAPS:]:
            entries.append(SLAExplainEntry(
                a, timer, "gap", "The clock stood still", calendar.describe_gap(a, b), until=b,
            ))  # fmt: skip
        if replay.state == State.STOPPED and not timer_status.breached:
            continue
        for pct, moment in timer_status.thresholds:
            if moment is None:
                continue
            future = moment > at
            if pct == BREACH:
                entries.append(SLAExplainEntry(
                    moment, timer, "deadline" if future else "breach",
                    f"{SLATimer(timer).label} due" if future
                    else f"The {label} target was breached",
                    f"{_duration(timer_status.target)} of working time used up.",
                    future=future,
                ))  # fmt: skip
            else:
                entries.append(SLAExplainEntry(
                    moment, timer, "threshold",
                    f"{pct} % of the {label} target " + ("will be used" if future else "used"),
                    "First-level support is warned; an imminent escalation is opened.",
                    future=future,
                ))  # fmt: skip
        if replay.state == State.PAUSED and timer_status.due_at:
            entries.append(SLAExplainEntry(
                timer_status.due_at, timer, "deadline",
                f"{SLATimer(timer).label} due if resumed now",
                f"{_duration(timer_status.time_left)} of working time left.", future=True,
            ))  # fmt: skip
    entries.sort(key=lambda e: (e.at, e.timer))
    return entries


@dataclass(frozen=True)
class SLAExplanation:
    """What the incident page includes: both timers and the explained timeline."""

    response: TimerStatus
    resolution: TimerStatus
    timeline: list[SLAExplainEntry]
    calendar_name: str

    @property
    def timers(self) -> tuple[TimerStatus, TimerStatus]:
        return (self.response, self.resolution)


def sla_explained(*, incident: Incident, at: datetime | None = None) -> SLAExplanation:
    """For `{% include "incidents/_sla_explained.html" with sla=... %}`."""
    at = at or timezone.now()
    status = sla_status(incident=incident, at=at)
    return SLAExplanation(
        response=status.response,
        resolution=status.resolution,
        timeline=sla_explain(incident=incident, at=at, status=status),
        calendar_name=status.replays[SLATimer.RESOLUTION].calendar.name,
    )
