"""A person's name on a page, also when the account behind it is gone."""

from typing import Any

from django import template

from incidents.people import person_name

register = template.Library()


@register.filter
def person(user: Any, fallback: str = "someone") -> str:
    """person_name as a filter. Templates use it, not `a.get_full_name|default:a.username`:
    that fails to render when `a` is None (Django raises on a filter argument it cannot
    resolve)."""
    return person_name(user, fallback)
