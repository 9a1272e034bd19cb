"""Times a manager reads at a glance: "18:45", "Mon 08:00", "7 Dec 08:00", and how far off.

A promise due on Monday morning reads "Due Mon 08:00 · in 2 d 13 h", not "2 days, 12 hours
from now": the clock time is what gets written in a calendar, the distance what gets acted on.
"""

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.formats import date_format

from incidents.selectors import duration_words

register = template.Library()


@register.filter
def moment(value: datetime | None) -> str:
    if value is None:
        return ""
    at = timezone.localtime(value)
    days_apart = abs((at.date() - timezone.localdate()).days)
    if days_apart == 0:
        return date_format(at, "H:i")
    if days_apart < 7:
        return date_format(at, "D H:i")
    if at.year != timezone.localdate().year:
        return date_format(at, "j M Y H:i")
    return date_format(at, "j M H:i")


@register.filter
def from_now(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = (value - timezone.now()).total_seconds()
    words = duration_words(seconds)
    return f"in {words}" if seconds >= 0 else f"{words} ago"


@register.filter
def ack_delay(case: Any) -> str:
    """How long IT operations took to acknowledge a major incident, in words."""
    seconds = (case.acknowledged_at - case.major_at).total_seconds()
    if seconds < 60:
        return "within a minute of classification"
    return f"{duration_words(seconds)} after classification"
