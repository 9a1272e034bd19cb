"""One check before every transition: state, permission, conditions, in that order.

django-fsm does not check `permission=` when a transition method is called, only in
has_transition_perm(); every service calls `require_transition` so the view, the API,
the admin and a Celery task cannot forget it.
"""

from typing import Any

from django.core.exceptions import PermissionDenied

from incidents.models.conditions import refusal_of

from .errors import ActionRefused, IncidentChanged


def require_transition(method: Any, *, actor: Any, seen_state: str | None = None) -> None:
    """Raise unless `actor` may run the bound transition `method` now.

    `actor=None` is the system itself (the SLA monitor, automatic avoidance): it skips the
    permission check but never the state or the conditions. `seen_state` is the state the
    user's page showed; a different state now means someone else acted first.
    """
    meta = method._django_fsm
    instance = method.__self__
    current = meta.field.get_state(instance)
    if seen_state is not None and seen_state != current:
        raise IncidentChanged()
    if not meta.has_transition(current):
        raise IncidentChanged()
    if actor is not None and not meta.has_transition_perm(instance, current, actor):
        raise PermissionDenied(f"You may not {method.__name__.replace('_', ' ')} here.")
    for check in meta.get_transition(current).conditions:
        if not check(instance):
            raise ActionRefused(refusal_of(check))


def require_text(value: str | None, *, what: str) -> str:
    """Reasons and notes the process relies on may not be blank."""
    text = (value or "").strip()
    if not text:
        raise ActionRefused(f"Please give {what}.")
    return text
