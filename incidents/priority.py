"""Impact x urgency -> priority, read from the data-driven matrix (PriorityRule)."""

from incidents.models import PriorityRule

# ServiceNow's default lookup rules: the fallback when a cell was deleted from the matrix.
DEFAULT_MATRIX = {
    (1, 1): 1, (1, 2): 2, (1, 3): 3,
    (2, 1): 2, (2, 2): 3, (2, 3): 4,
    (3, 1): 3, (3, 2): 4, (3, 3): 5,
}  # fmt: skip


def priority_for(*, impact: int, urgency: int) -> int:
    rule = PriorityRule.objects.filter(impact=impact, urgency=urgency).first()
    if rule is not None:
        return rule.priority
    return DEFAULT_MATRIX[(impact, urgency)]
