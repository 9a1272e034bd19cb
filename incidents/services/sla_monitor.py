"""The SLA monitor: every minute, act on the thresholds and breaches that came due.

One indexed query finds the clocks whose next threshold moment has passed (usually none).
Incidents are then handled in short transactions of up to CHUNK incidents each:

1. lock the incidents with SKIP LOCKED: a person working on it right now wins, and the
   next run looks again;
2. re-read their clocks and status under the lock (it may have been resolved meanwhile);
3. act on every threshold passed since the last run, oldest first: a warning opens an
   imminent escalation, the breach applies the policy's breach action;
4. record each in SLAThresholdCrossing, whose unique constraint makes a second monitor
   (two beats, a retried task) fail instead of acting twice.

A monitor that was down simply finds more clocks due: one run catches up, exactly once.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from incidents.models import (
    ACTIVE_STATES,
    Escalation,
    Incident,
    SLAClock,
    SLAPolicy,
    SLAThresholdCrossing,
    SLATimer,
)
from incidents.sla import (
    BREACH,
    _policies,
    _policy_or_fallback,
    sla_may_alert_now,
    sla_next_alert_time,
)
from notifications.services import notification_batch

from .escalations import (
    escalation_escalate,
    escalation_flag_imminent_many,
    escalation_request,
)

logger = logging.getLogger(__name__)
S = Escalation.State

# Enough for a long outage in one run; anything beyond is picked up a minute later.
BATCH = 5000
# Incidents per transaction: few commits, row locks held for a fraction of a second.
CHUNK = 100


@dataclass
class MonitorReport:
    due: int = 0
    fired: list[tuple[int, str, int]] = field(default_factory=list)  # (incident, timer, %)
    skipped_locked: int = 0
    deferred: int = 0
    closed: int = 0
    failed: int = 0


def sla_monitor_run(
    *, now: datetime | None = None, batch: int = BATCH, chunk: int = CHUNK
) -> MonitorReport:
    """Handle every threshold and breach due at `now` (default: the current time)."""
    now = now or timezone.now()
    report = MonitorReport()
    incident_ids = list(
        dict.fromkeys(
            SLAClock.objects.filter(next_check_at__lte=now)
            .order_by("next_check_at")
            .values_list("incident_id", flat=True)[:batch]
        )
    )
    report.due = len(incident_ids)
    if not incident_ids:
        return report
    policies = _policies()
    for first in range(0, len(incident_ids), chunk):
        ids = incident_ids[first : first + chunk]
        try:
            _check_incidents(ids=ids, now=now, policies=policies, report=report)
        except Exception:
            # One broken incident must not keep the others from being watched: retry the
            # chunk one incident at a time and log the one that fails.
            if len(ids) == 1:
                _failed(ids[0], report)
                continue
            for pk in ids:
                try:
                    _check_incidents(ids=[pk], now=now, policies=policies, report=report)
                except Exception:
                    _failed(pk, report)
    return report


def _failed(pk: int, report: MonitorReport) -> None:
    report.failed += 1
    logger.exception("SLA monitor could not check incident %s", pk)


@transaction.atomic
def _check_incidents(
    *, ids: list[int], now: datetime, policies: dict[int, SLAPolicy], report: MonitorReport
) -> None:
    """One transaction for a chunk of incidents: few queries, and short row locks."""
    fired_before = len(report.fired)
    incidents = {
        incident.pk: incident
        for incident in Incident.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("service", "initiator")
        .filter(pk__in=ids)
        .order_by()
    }
    # Locked by a person (or another monitor): the next run looks again.
    report.skipped_locked += len(ids) - len(incidents)
    if not incidents:
        return
    clocks: dict[int, list[SLAClock]] = {}
    for clock in SLAClock.objects.select_for_update().filter(
        incident_id__in=list(incidents), next_check_at__lte=now
    ):
        clocks.setdefault(clock.incident_id, []).append(clock)

    silenced, deferred, changed = [], {}, []
    crossed: dict[int, list[tuple[datetime, int, str]]] = {}
    for pk, own in clocks.items():  # handled by a run that committed after our first query
        incident = incidents[pk]
        policy = _policy_or_fallback(policies, incident.priority)
        if not incident.is_open:
            silenced.extend(c.pk for c in own)
            report.closed += 1
            continue
        if not sla_may_alert_now(incident=incident, policy=policy, at=now):
            # Non-urgent: wait for business hours; the thresholds stay owed.
            deferred.setdefault(sla_next_alert_time(policy=policy, at=now), []).extend(
                c.pk for c in own
            )
            report.deferred += 1
            continue
        for clock in own:
            due = {int(p): datetime.fromisoformat(m) for p, m in clock.schedule.items()}
            if clock.state == SLAClock.State.STOPPED:
                due = {}
            passed = {p: m for p, m in due.items() if m <= now}
            crossed.setdefault(pk, []).extend((m, p, clock.timer) for p, m in passed.items())
            left = {p: m for p, m in due.items() if p not in passed}
            clock.schedule = {str(p): m.isoformat() for p, m in left.items()}
            clock.next_check_at = min(left.values(), default=None)
            changed.append(clock)
    if silenced:
        SLAClock.objects.filter(pk__in=silenced).update(next_check_at=None, schedule={})
    for later, pks in deferred.items():
        SLAClock.objects.filter(pk__in=pks).update(next_check_at=later)
    if changed:
        _save_schedules(changed)
    if not crossed:
        return

    active = {
        case.incident_id: case
        for case in Escalation.objects.filter(
            incident_id__in=list(crossed), state__in=ACTIVE_STATES
        )
    }
    # Warnings first, set-based: one imminent case per incident without an active one.
    to_open = []
    for pk, items in crossed.items():
        warning = min((item for item in items if item[1] < BREACH), default=None)
        if warning is not None and pk not in active:
            incident = incidents[pk]
            label = SLATimer(warning[2]).label.lower()
            reason = (
                f"{warning[1]} % of the {label} target is used ({incident.get_priority_display()})."
            )
            to_open.append((incident, reason, warning[1]))
    opened = escalation_flag_imminent_many(items=to_open)
    active.update(opened)

    crossings = []
    # The breach path runs the per-step services; their notifications are written as one
    # batch (one audience query, one insert) when the loop ends, still in this transaction.
    with notification_batch():
        for pk, items in crossed.items():
            incident = incidents[pk]
            policy = _policy_or_fallback(policies, incident.priority)
            for reached_at, pct, timer in sorted(items):
                case = active.get(pk)
                if pct < BREACH:
                    if case is not None and case.warning_percentage == pct and pk in opened:
                        action = "Imminent escalation opened; first-level support alerted"
                        opened.pop(pk)
                    else:
                        action = f"{pct} % used; already {case.get_state_display().lower()}"
                else:
                    case, action = _breach(incident=incident, policy=policy, timer=timer, case=case)
                    active[pk] = case
                crossings.append(
                    SLAThresholdCrossing(
                        incident=incident, timer=timer, percentage=pct, reached_at=reached_at,
                        fired_at=now, action=action, escalation=case,
                    )
                )  # fmt: skip
                report.fired.append((pk, timer, pct))
    try:
        # The unique constraint: a concurrent run that fired any of these wins; all of
        # this chunk's work rolls back with it.
        SLAThresholdCrossing.objects.bulk_create(crossings)
    except IntegrityError:
        del report.fired[fired_before:]
        raise


def _save_schedules(clocks: list[SLAClock]) -> None:
    """Write the clocks' new schedules in one statement.

    Django's bulk_update builds a CASE per field per row: for 1,000 clocks that costs more
    than all the rest of the run. On PostgreSQL, one UPDATE joins the new values as arrays.
    """
    if connection.vendor != "postgresql":
        SLAClock.objects.bulk_update(clocks, ["schedule", "next_check_at"])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {SLAClock._meta.db_table} AS clock
            SET schedule = new.schedule, next_check_at = new.next_check_at
            FROM unnest(%s::bigint[], %s::jsonb[], %s::timestamptz[])
                AS new (id, schedule, next_check_at)
            WHERE clock.id = new.id
            """,
            [
                [c.pk for c in clocks],
                [json.dumps(c.schedule) for c in clocks],
                [c.next_check_at for c in clocks],
            ],
        )


def _breach(
    *, incident: Incident, policy: SLAPolicy, timer: str, case: Escalation | None
) -> tuple[Escalation, str]:
    """The policy's breach action; returns the case and what was done, in words."""
    label = SLATimer(timer).label.lower()
    reason = f"The {label} target of {incident.get_priority_display()} is breached."
    escalate = policy.breach_action == SLAPolicy.BreachAction.ESCALATE
    if case is None or case.state == S.IMMINENT:
        case = escalation_request(incident=incident, actor=None, reason=reason)
        action = "Escalation request opened for the entitlement check"
    elif not (escalate and case.state == S.REQUESTED):
        return case, f"Breached; already {case.get_state_display().lower()}"
    else:
        action = "Breached while awaiting the entitlement check"
    if escalate:
        case = escalation_escalate(
            escalation=case, actor=None, reason=f"{reason} The policy escalates at once."
        )
        action = "Escalated at once per the escalation procedure"
    return case, action
