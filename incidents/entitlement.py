"""The entitlement recommendation shown on the check screen: a verdict and its reasons.

It advises; first-level support decides. Each fact adds weight in favour of escalating,
and every fact is stated in words, whichever way it points.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.utils import timezone

from incidents.models import ACTIVE_STATES, Escalation, Incident, Service
from incidents.sla import sla_resolution_consumed

ENTITLED_FROM = 3  # points needed for an "entitled" recommendation
PRIORITY_POINTS = {1: 3, 2: 2, 3: 1, 4: 0, 5: 0}


@dataclass(frozen=True)
class Recommendation:
    entitled: bool
    score: int
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def needed(self) -> int:
        return ENTITLED_FROM

    @property
    def verdict(self) -> str:
        return "Escalation is entitled" if self.entitled else "Escalation is not entitled"


def entitlement_recommendation(
    *, incident: Incident, now: datetime | None = None
) -> Recommendation:
    now = now or timezone.now()
    score = 0
    reasons: list[str] = []

    points = PRIORITY_POINTS[incident.priority]
    score += points
    label = incident.get_priority_display()
    if points >= ENTITLED_FROM:
        reasons.append(f"Priority {label} warrants escalation.")
    elif points >= 2:
        # Not "warrants": the verdict may still say not entitled.
        reasons.append(f"Priority {label} counts towards escalation, but not on its own.")
    else:
        reasons.append(f"Priority {label} alone does not warrant escalation.")

    consumed = sla_resolution_consumed(incident, now=now)
    percent = round(consumed * 100)
    if consumed >= 1:
        score += 3
        reasons.append(f"The resolution SLA is breached ({percent} % of the target used).")
    elif consumed >= 0.75:
        score += 2
        reasons.append(f"{percent} % of the resolution target is used: a breach is close.")
    elif consumed >= 0.5:
        score += 1
        reasons.append(f"{percent} % of the resolution target is used.")
    else:
        reasons.append(f"Only {percent} % of the resolution target is used.")

    if incident.service.tier == Service.Tier.CRITICAL:
        score += 1
        reasons.append(f"{incident.service.name} is a business-critical service (tier 1).")
    else:
        reasons.append(
            f"{incident.service.name} is a {incident.service.get_tier_display()} service."
        )

    earlier = list(
        Escalation.objects.filter(incident=incident)
        .exclude(state__in=ACTIVE_STATES)
        .values_list("state", flat=True)
    )
    if earlier:
        rejected = earlier.count(Escalation.State.REJECTED)
        score += 1
        reasons.append(
            f"It was escalated or asked for before ({len(earlier)} earlier case"
            f"{'s' if len(earlier) != 1 else ''}, {rejected} rejected): the problem persists."
        )
    else:
        reasons.append("No earlier escalations of this incident.")

    return Recommendation(entitled=score >= ENTITLED_FROM, score=score, reasons=reasons)
