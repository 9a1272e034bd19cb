"""How the portal names a person: one rule for pages, e-mails, choices and timeline notes."""

from typing import Any


def person_name(user: Any, fallback: str = "someone") -> str:
    """Full name, else login name; `fallback` where there is no user (the SLA monitor
    acted, or the account was deleted and the reference set to NULL)."""
    if user is None:
        return fallback
    return user.get_full_name() or user.get_username()
