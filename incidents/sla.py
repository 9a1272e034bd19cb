"""SLA arithmetic: due times from per-priority targets (24x7 for now) and time consumed."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from incidents.models import Incident, SLAPolicy

# Used when an administrator deleted a priority's policy: never leave an incident untimed.
FALLBACK_TARGETS = {1: (15, 240), 2: (30, 480), 3: (60, 1440), 4: (240, 4320), 5: (480, 10080)}
DEFAULT_WARNINGS = [50, 75]


@dataclass(frozen=True)
class Targets:
    response: timedelta
    resolution: timedelta
    warnings: tuple[int, ...]


def sla_targets(*, priority: int) -> Targets:
    policy = SLAPolicy.objects.filter(priority=priority).first()
    if policy is None:
        response, resolution = FALLBACK_TARGETS[priority]
        return Targets(timedelta(minutes=response), timedelta(minutes=resolution), (50, 75))
    return Targets(
        timedelta(minutes=policy.response_minutes),
        timedelta(minutes=policy.resolution_minutes),
        tuple(policy.warning_percentages or DEFAULT_WARNINGS),
    )


def sla_due_times(*, priority: int, start: datetime) -> tuple[datetime, datetime]:
    targets = sla_targets(priority=priority)
    return start + targets.response, start + targets.resolution


def sla_paused_seconds(incident: Incident, *, now: datetime | None = None) -> float:
    now = now or timezone.now()
    paused = float(incident.paused_seconds)
    if incident.on_hold_since:
        paused += (now - incident.on_hold_since).total_seconds()
    return paused


def sla_resolution_consumed(incident: Incident, *, now: datetime | None = None) -> float:
    """Share of the resolution target used so far (1.0 = due now, above 1.0 = breached)."""
    now = now or timezone.now()
    end = incident.resolved_at or now
    target = (
        incident.resolution_due - incident.created_at
    ).total_seconds() - incident.paused_seconds
    if target <= 0:
        return 1.0
    used = (end - incident.created_at).total_seconds() - sla_paused_seconds(incident, now=end)
    return max(0.0, used / target)


def sla_is_breached(incident: Incident, *, now: datetime | None = None) -> bool:
    return sla_resolution_consumed(incident, now=now) >= 1.0
