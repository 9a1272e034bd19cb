"""Transition conditions that carry the sentence a user is shown when one is not met."""

from collections.abc import Callable
from typing import Any


def condition(refusal: str) -> Callable[[Callable[[Any], bool]], Callable[[Any], bool]]:
    """Mark a django-fsm condition with the reason shown when it blocks an action."""

    def mark(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
        check.refusal = refusal  # type: ignore[attr-defined]
        return check

    return mark


def refusal_of(check: Callable[[Any], bool]) -> str:
    return getattr(check, "refusal", f"The condition '{check.__name__}' is not met.")
