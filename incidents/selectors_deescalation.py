"""Reads for deescalation and major incidents: my activities, the promised-update clock,
the major-incident criteria. Pages call these; the reminder monitor shares the clock."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from incidents.calendars import Calendar
from incidents.models import (
    ACTIVE_STATES,
    DEFAULT_CADENCE_MINUTES,
    DeescalationActivity,
    Escalation,
    Incident,
    IncidentImpact,
    IncidentLink,
    SLAPolicy,
    TimelineEntry,
    UpdateCadence,
)
from incidents.sla import sla_alert_calendar, sla_policy_for

S = Escalation.State
# While a case is in one of these, the initiator has been promised regular updates.
CADENCE_STATES = (S.ESCALATED, S.MAJOR, S.PLAN_SUBMITTED, S.DEESCALATING)


def activity_list_for_owner(
    *, user: Any, now: datetime | None = None, include_finished: bool = False
) -> QuerySet[DeescalationActivity]:
    """The owner's open activities of approved plans, across incidents, overdue first.

    With `include_finished`, their done and cancelled ones follow, latest first ("My
    activities" lists both; an unapproved plan's activities are nobody's work yet)."""
    now = now or timezone.now()
    Status = DeescalationActivity.Status
    todo = Q(status=Status.OPEN, plan__escalation__state=S.DEESCALATING)
    if include_finished:
        todo |= ~Q(status=Status.OPEN) & ~Q(
            plan__escalation__state__in=[S.ESCALATED, S.PLAN_SUBMITTED]
        )
    return (
        DeescalationActivity.objects.filter(todo, owner=user)
        .select_related("plan__escalation__incident", "plan__escalation__incident__service")
        .annotate(
            finished=Case(
                When(status=Status.OPEN, then=Value(False)),
                default=Value(True),
                output_field=BooleanField(),
            ),
            overdue=Case(
                When(status=Status.OPEN, due_at__lt=now, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .order_by("finished", "-overdue", F("finished_at").desc(nulls_last=True), "due_at", "pk")
    )


def activity_lists_for_owner(
    *, user: Any, now: datetime | None = None, finished_limit: int = 20
) -> tuple[list[DeescalationActivity], list[DeescalationActivity]]:
    """The "My activities" page: every open one, and the latest `finished_limit` finished ones.

    The same rows as `activity_list_for_owner(include_finished=True)`, in two queries, so
    the page does not load the owner's whole history of finished activities (it grows
    with every plan) to show the last 20."""
    Status = DeescalationActivity.Status
    open_ones = activity_list_for_owner(user=user, now=now).filter(status=Status.OPEN)
    finished = (
        DeescalationActivity.objects.filter(owner=user)
        .exclude(status=Status.OPEN)
        .exclude(plan__escalation__state__in=[S.ESCALATED, S.PLAN_SUBMITTED])
        .select_related("plan__escalation__incident", "plan__escalation__incident__service")
        .annotate(finished=Value(True), overdue=Value(False))
        # The activity_finished_by_owner index holds this order: the scan stops after 20.
        # (complete and cancel set finished_at, so NULLS LAST of the mixed list is moot.)
        .order_by("-finished_at", "due_at", "pk")
    )
    return list(open_ones), list(finished[:finished_limit])


@dataclass(frozen=True)
class PlanProgress:
    done: int
    cancelled: int
    open: int
    overdue: int

    @property
    def total(self) -> int:
        return self.done + self.cancelled + self.open

    @property
    def finished(self) -> int:
        return self.done + self.cancelled


def plan_progress(*, escalation: Escalation, now: datetime | None = None) -> PlanProgress | None:
    """Done / total and overdue of a case's plan, for the incident manager board."""
    now = now or timezone.now()
    # Queried by the case's id: a cached "no plan" on the instance may be out of date.
    rows = DeescalationActivity.objects.filter(plan__escalation=escalation).values_list(
        "status", "due_at"
    )
    if not rows:
        return None
    Status = DeescalationActivity.Status
    counts = {Status.DONE: 0, Status.CANCELLED: 0, Status.OPEN: 0}
    overdue = 0
    for status, due_at in rows:
        counts[status] += 1
        overdue += status == Status.OPEN and due_at < now
    return PlanProgress(counts[Status.DONE], counts[Status.CANCELLED], counts[Status.OPEN], overdue)


# --- promised updates --------------------------------------------------------------


def update_cadence_for(*, priority: int) -> timedelta:
    minutes = (
        UpdateCadence.objects.filter(priority=priority)
        .values_list("interval_minutes", flat=True)
        .first()
    )
    return timedelta(minutes=minutes or DEFAULT_CADENCE_MINUTES[priority])


def latest_moment(*, first: datetime, every: timedelta, now: datetime) -> datetime | None:
    """The last of first, first + every, first + 2 every, ... that is not after now.

    A monitor that was down for hours sends one reminder for now, not a backlog."""
    if now < first:
        return None
    return first + ((now - first) // every) * every


@dataclass(frozen=True)
class UpdateClock:
    """The promise to the initiator: an update every `interval` after `started` (the
    escalation or the last public update). With a `calendar`, a promise that would fall
    outside its business hours moves to the next opening, the rule non-urgent SLA alerts
    follow (sla_alert_calendar): a P3 escalated at 17:45 is not promised news at 01:45."""

    started: datetime
    interval: timedelta
    calendar: Calendar | None = None

    def due_after(self, moment: datetime) -> datetime:
        at = moment + self.interval
        return self.calendar.next_open(at) if self.calendar is not None else at

    @property
    def due(self) -> datetime:
        return self.due_after(self.started)

    def latest_due(self, now: datetime) -> datetime | None:
        """The last of due, the due after it, ... that is not after `now` (None before the
        first): a monitor that was down for hours reminds once for now, not a backlog."""
        moment = self.due
        if self.calendar is None or moment > now:
            return latest_moment(first=moment, every=self.interval, now=now)
        for _ in range(10_000):  # a year of hourly promises; the loop ends long before
            following = self.due_after(moment)
            if following > now:
                break
            moment = following
        return moment


def _clock_start(case: Escalation) -> datetime:
    return case.escalated_at or case.major_at or case.created_at


def update_clock_of(
    case: Escalation, *, last_update: datetime | None, interval: timedelta, policy: SLAPolicy
) -> UpdateClock:
    """The clock from what is already known of the case: its last public update, its
    priority's cadence and SLA policy. The board passes these for many cases at once."""
    started = _clock_start(case)
    return UpdateClock(
        started=max(started, last_update or started),
        interval=interval,
        calendar=sla_alert_calendar(incident=case.incident, policy=policy),
    )


def update_clock(case: Escalation) -> UpdateClock | None:
    """The case's promised-update clock; None when it promises no updates (not escalated,
    or over)."""
    if case.state not in CADENCE_STATES:
        return None
    started = _clock_start(case)
    last_update = (
        TimelineEntry.objects.filter(
            incident_id=case.incident_id,
            kind=TimelineEntry.Kind.STATUS_UPDATE,
            public=True,
            created_at__gte=started,
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    priority = case.incident.priority
    return update_clock_of(
        case, last_update=last_update, interval=update_cadence_for(priority=priority),
        policy=sla_policy_for(priority=priority),
    )  # fmt: skip


def next_update_due(incident: Incident) -> datetime | None:
    """When the initiator is next promised a public status update (may be in the past when
    it is late); None when the incident is not escalated."""
    case = (
        Escalation.objects.filter(incident=incident, state__in=ACTIVE_STATES)
        .select_related("incident")
        .first()
    )
    clock = update_clock(case) if case else None
    return clock.due if clock else None


# --- major incidents ------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    label: str
    value: str
    met: bool


@dataclass(frozen=True)
class MajorCriteria:
    """The facts behind classifying an incident as major, shown beside the button."""

    priority: int
    users_affected: int | None
    services_affected: int | None
    linked_incidents: int
    criteria: list[Criterion] = field(default_factory=list)

    @property
    def met(self) -> list[Criterion]:
        return [c for c in self.criteria if c.met]

    @property
    def suggests_major(self) -> bool:
        return bool(self.met)


def major_incident_criteria(incident: Incident) -> MajorCriteria:
    thresholds = settings.PORTAL
    impact = IncidentImpact.objects.filter(incident=incident).first()
    users = impact.users_affected if impact else None
    services = impact.services_affected if impact else None
    linked = IncidentLink.objects.filter(major_case__incident=incident).count()
    min_users = thresholds["MAJOR_USERS_AFFECTED"]
    min_services = thresholds["MAJOR_SERVICES_AFFECTED"]
    min_linked = thresholds["MAJOR_LINKED_INCIDENTS"]
    criteria = [
        Criterion("Priority 1 (critical)", incident.get_priority_display(), incident.priority == 1),
        Criterion(
            f"At least {min_users} users affected",
            "not recorded" if users is None else str(users),
            users is not None and users >= min_users,
        ),
        Criterion(
            f"At least {min_services} services affected",
            "not recorded" if services is None else str(services),
            services is not None and services >= min_services,
        ),
        Criterion(f"At least {min_linked} linked incidents", str(linked), linked >= min_linked),
    ]
    return MajorCriteria(incident.priority, users, services, linked, criteria)
