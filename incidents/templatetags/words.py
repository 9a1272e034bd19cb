"""Small fixes to text people typed, for the sentences a page builds around it."""

from django import template

register = template.Library()


@register.filter
def sentence(text: str) -> str:
    """`text` ending in one full stop: a reason typed with or without its own."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
