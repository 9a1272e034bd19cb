"""The SLA monitor: every minute, act on the thresholds and breaches that came due.

One indexed query finds the clocks whose next threshold moment has passed (usually none).
Each incident is then handled in its own short transaction:

1. lock the incident with SKIP LOCKED: a person working on it right now wins, and the
   next run looks again;
2. re-read its clocks and status under the lock (it may have been resolved meanwhile);
3. act on every threshold passed since the last run, oldest first: a warning opens an
   imminent escalation, the breach applies the policy's breach action;
4. record each in SLAThresholdCrossing, whose unique constraint makes a second monitor
   (two beats, a retried task) fail instead of acting twice.

A monitor that was down simply finds more clocks due: one run catches up, exactly once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import (
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

from .escalations import (
    escalation_active_for,
    escalation_escalate,
    escalation_flag_imminent,
    escalation_request,
)

logger = logging.getLogger(__name__)
S = Escalation.State

# Enough for a long outage in one run; anything beyond is picked up a minute later.
BATCH = 5000


@dataclass
class MonitorReport:
    due: int = 0
    fired: list[tuple[int, str, int]] = field(default_factory=list)  # (incident, timer, %)
    skipped_locked: int = 0
    deferred: int = 0
    closed: int = 0
    failed: int = 0


def sla_monitor_run(*, now: datetime | None = None, batch: int = BATCH) -> MonitorReport:
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
    for pk in incident_ids:
        try:
            _check_incident(pk=pk, now=now, policies=policies, report=report)
        except IntegrityError:
            # Another monitor recorded the same threshold first: it acted, we did not.
            logger.info("SLA monitor: incident %s was handled by a concurrent run", pk)
        except Exception:
            # One broken incident must not keep the others from being watched.
            report.failed += 1
            logger.exception("SLA monitor could not check incident %s", pk)
    return report


@transaction.atomic
def _check_incident(
    *, pk: int, now: datetime, policies: dict[int, SLAPolicy], report: MonitorReport
) -> None:
    incident = (
        Incident.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("service", "initiator")
        .filter(pk=pk)
        .first()
    )
    if incident is None:  # a person (or another monitor) holds it: next run
        report.skipped_locked += 1
        return
    clocks = list(
        SLAClock.objects.select_for_update().filter(incident=incident, next_check_at__lte=now)
    )
    if not clocks:  # handled by a run that committed after our first query
        return
    if not incident.is_open:
        SLAClock.objects.filter(pk__in=[c.pk for c in clocks]).update(
            next_check_at=None, schedule={}
        )
        report.closed += 1
        return
    policy = _policy_or_fallback(policies, incident.priority)
    if not sla_may_alert_now(incident=incident, policy=policy, at=now):
        # Non-urgent: wait for business hours; the thresholds stay owed.
        later = sla_next_alert_time(policy=policy, at=now)
        SLAClock.objects.filter(pk__in=[c.pk for c in clocks]).update(next_check_at=later)
        report.deferred += 1
        return

    crossed = []
    for clock in clocks:
        due = {int(p): datetime.fromisoformat(m) for p, m in clock.schedule.items()}
        if clock.state == SLAClock.State.STOPPED:
            due = {}
        passed = {p: m for p, m in due.items() if m <= now}
        crossed.extend((moment, pct, clock.timer) for pct, moment in passed.items())
        left = {p: m for p, m in due.items() if p not in passed}
        clock.schedule = {str(p): m.isoformat() for p, m in left.items()}
        clock.next_check_at = min(left.values(), default=None)
        clock.save(update_fields=["schedule", "next_check_at", "updated_at"])

    for reached_at, pct, timer in sorted(crossed):
        case, action = _act(incident=incident, policy=policy, timer=timer, pct=pct)
        SLAThresholdCrossing.objects.create(
            incident=incident, timer=timer, percentage=pct, reached_at=reached_at,
            fired_at=now, action=action, escalation=case,
        )  # fmt: skip
        report.fired.append((incident.pk, timer, pct))


def _act(
    *, incident: Incident, policy: SLAPolicy, timer: str, pct: int
) -> tuple[Escalation | None, str]:
    """What one threshold does. Returns the case it touched and what was done, in words."""
    label = SLATimer(timer).label.lower()
    case = escalation_active_for(incident=incident)
    if pct < BREACH:
        if case is not None:
            return case, f"{pct} % of the {label} target used; already {case.get_state_display()}"
        case = escalation_flag_imminent(
            incident=incident,
            actor=None,
            reason=f"{pct} % of the {label} target is used ({incident.get_priority_display()}).",
            warning_percentage=pct,
        )
        return case, "Imminent escalation opened; first-level support alerted"

    reason = f"The {label} target of {incident.get_priority_display()} is breached."
    escalate = policy.breach_action == SLAPolicy.BreachAction.ESCALATE
    if case is None or case.state == S.IMMINENT:
        case = escalation_request(incident=incident, actor=None, reason=reason)
        action = "Escalation request opened for the entitlement check"
    elif not (escalate and case.state == S.REQUESTED):
        return case, f"Breached; already {case.get_state_display()}"
    else:
        action = "Breached while awaiting the entitlement check"
    if escalate:
        case = escalation_escalate(
            escalation=case, actor=None, reason=f"{reason} The policy escalates at once."
        )
        action = "Escalated at once per the escalation procedure"
    return case, action
