"""A person's name on a page, also when the account behind it is gone."""

from typing import Any

from django import template

register = template.Library()


@register.filter
def person(user: Any, fallback: str = "someone") -> str:
    """Full name, else login name; `fallback` where the user was deleted (SET_NULL) or
    was never set. A filter, because `a.get_full_name|default:a.username` fails to render
    when `a` is None: Django raises on a filter argument it cannot resolve."""
    if user is None:
        return fallback
    return user.get_full_name() or user.get_username()
