"""The deescalation monitor: overdue activities, promised updates, unacknowledged majors.

Each reminder is for one due moment (an activity's due time, then every further interval;
a promised update's due time, then every further cadence interval; each acknowledgement
timeout). The Reminder row's unique constraint is what makes it exactly once: a second
run, or a run at the same moment on another worker, fails to insert and sends nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format

from incidents.models import DeescalationActivity, Escalation, Reminder, TimelineEntry
from incidents.people import person_name
from incidents.selectors_deescalation import CADENCE_STATES, latest_moment, update_clock
from notifications.events import Event
from notifications.services import notification_queue

from .timeline import timeline_record

S = Escalation.State


def when(moment: datetime) -> str:
    """A time as people read it, in the portal's time zone."""
    return date_format(timezone.localtime(moment), "j M Y, H:i")


@dataclass(frozen=True)
class MonitorRun:
    activities_overdue: int = 0
    updates_due: int = 0
    acknowledgements_overdue: int = 0


def _remind_once(
    *,
    kind: str,
    case: Escalation,
    due_at: datetime,
    event: Event,
    note: str,
    activity: DeescalationActivity | None = None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Record the reminder and queue its notifications together, or not at all."""
    try:
        with transaction.atomic():
            Reminder.objects.create(kind=kind, escalation=case, activity=activity, due_at=due_at)
            entry = timeline_record(
                incident=case.incident, escalation=case, kind=TimelineEntry.Kind.REMINDER,
                note=note,
            )  # fmt: skip
            notification_queue(
                event=event, incident=case.incident, escalation=case, cause=entry, extra=extra
            )
    except IntegrityError:
        return False  # this moment was reminded already (or is being, by another run)
    return True


def reminders_activity_overdue(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    every = timedelta(minutes=settings.PORTAL["ACTIVITY_REMINDER_REPEAT_MINUTES"])
    overdue = DeescalationActivity.objects.filter(
        status=DeescalationActivity.Status.OPEN,
        due_at__lte=now,
        plan__escalation__state=S.DEESCALATING,
    ).select_related("owner", "plan__escalation__incident__initiator")
    sent = 0
    for activity in overdue:
        moment = latest_moment(first=activity.due_at, every=every, now=now)
        owner = person_name(activity.owner)
        sent += _remind_once(
            kind=Reminder.Kind.ACTIVITY_OVERDUE,
            case=activity.plan.escalation,
            activity=activity,
            due_at=moment,
            event=Event.ACTIVITY_OVERDUE,
            note=(
                f"Reminder: the activity '{activity.description}' owned by {owner} "
                f"was due {when(activity.due_at)} and is not done yet."
            ),
            extra={"owner": activity.owner, "activity": activity},
        )
    return sent


def reminders_update_due(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    cases = Escalation.objects.filter(state__in=CADENCE_STATES).select_related(
        "incident__initiator"
    )
    sent = 0
    for case in cases:
        clock = update_clock(case)
        moment = clock.latest_due(now) if clock else None
        if moment is None:
            continue
        sent += _remind_once(
            kind=Reminder.Kind.UPDATE_DUE,
            case=case,
            due_at=moment,
            event=Event.UPDATE_DUE,
            note=(
                f"Reminder: a status update to the initiator was promised by "
                f"{when(clock.due)}. Post one to reset the clock."
            ),
            extra={"next_update_due": clock.due},
        )
    return sent


def reminders_acknowledgement(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    timeout = timedelta(minutes=settings.PORTAL["MAJOR_ACK_TIMEOUT_MINUTES"])
    waiting = Escalation.objects.filter(
        state=S.MAJOR, acknowledged_at__isnull=True, major_at__isnull=False
    ).select_related("incident__initiator")
    sent = 0
    for case in waiting:
        moment = latest_moment(first=case.major_at + timeout, every=timeout, now=now)
        if moment is None:
            continue
        minutes = int((moment - case.major_at).total_seconds() // 60)
        sent += _remind_once(
            kind=Reminder.Kind.ACK_TIMEOUT,
            case=case,
            due_at=moment,
            event=Event.MAJOR_NOT_ACKNOWLEDGED,
            note=(
                f"Major incident {case.incident.number} has waited {minutes} minutes without "
                f"acknowledgement by IT operations."
            ),
        )
    return sent


def reminders_run(*, now: datetime | None = None) -> MonitorRun:
    """One pass of the monitor (the beat task). Safe to run twice, or twice at once."""
    now = now or timezone.now()
    return MonitorRun(
        activities_overdue=reminders_activity_overdue(now=now),
        updates_due=reminders_update_due(now=now),
        acknowledgements_overdue=reminders_acknowledgement(now=now),
    )
