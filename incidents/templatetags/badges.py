"""The small pieces every queue row repeats: priority badge, SLA bar, escalation stage.

Tags, not {% include %}: a queue page renders 25 rows of three of them, and an include
costs more to render than the row around it.
"""

from typing import Any

from django import template
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

from incidents.models import Escalation
from incidents.people import person_name

register = template.Library()


@register.simple_tag
def priority_badge(incident: Any, words: bool = False) -> str:
    """The P1-P5 badge; with words=True followed by the word ("Moderate"), not the label
    again: the label ("P3 Moderate") already starts with what the badge says."""
    label = incident.get_priority_display()
    badge = format_html(
        '<span class="badge prio prio-{0}" title="{1}">P{0}</span>', incident.priority, label
    )
    if not words:
        return badge
    return format_html("{} {}", badge, label.removeprefix(f"P{incident.priority} "))


@register.simple_tag
def sla_bar(sla: Any) -> str:
    """Share of the resolution target used, with the time left or overdue in words."""
    if not sla:
        return ""
    words_class = "danger fw-semibold" if sla.tone == "danger" else "body-secondary"
    return format_html(
        '<div class="sla" title="{0} % of the resolution target used">'
        '<div class="progress sla-bar" role="progressbar" aria-label="Resolution SLA used" '
        'aria-valuenow="{0}" aria-valuemin="0" aria-valuemax="100">'
        '<div class="progress-bar bg-{1}" style="width: {0}%"></div></div>'
        '<small class="sla-words text-{2}">{3}</small></div>',
        sla.percent,
        sla.tone,
        words_class,
        sla.words,
    )


@register.simple_tag
def stage_badge(state: str | None) -> str:
    """An escalation case's stage, in its state's words; nothing when there is no case."""
    if not state:
        return ""
    return format_html(
        '<span class="badge stage stage-{}">{}</span>', state, Escalation.State(state).label
    )


_ON_HOLD = mark_safe(' <span class="badge text-bg-light border">on hold</span>')
_NOBODY = mark_safe('<span class="text-body-secondary">—</span>')


@register.simple_tag
def queue_row(incident: Any) -> str:
    """One row of the support queue, with the badges above. A tag for the whole row: its
    twenty-odd template lookups and filters cost more than all of the page's SQL."""
    stale = ""
    if incident.stale:
        stale = format_html(
            ' <span class="badge text-bg-warning stale" title="No progress note for longer '
            'than P{} allows">stale</span>',
            incident.priority,
        )
    assignee = incident.assignee
    return format_html(
        '<tr class="{}" data-number="{}">'
        '<td class="text-nowrap"><a href="{}">{}</a></td>'
        '<td class="title-cell">{}{}{}</td>'
        "<td>{}</td>"
        '<td class="text-nowrap">{}</td>'
        '<td class="text-nowrap">{}</td>'
        '<td class="text-nowrap" title="{}">{}</td>'
        '<td class="sla-cell">{}</td>'
        "<td>{}</td></tr>",
        "row-breached" if incident.sla and incident.sla.tone == "danger" else "",
        incident.number,
        reverse("incident-detail", args=[incident.number]),
        incident.number,
        incident.title,
        stale,
        _ON_HOLD if incident.status == "on_hold" else "",
        priority_badge(incident),
        incident.service.name,
        person_name(assignee) if assignee else _NOBODY,
        date_format(localtime(incident.created_at), "d M Y H:i"),
        incident.age,
        sla_bar(incident.sla),
        stage_badge(incident.case_state),
    )


@register.simple_tag(takes_context=True)
def sort_header(context: Any, key: str, label: str, alt: str = "") -> str:
    """A sortable column head: a click sorts by `key` (by `alt`, its reverse, when already
    sorted by `key`), keeping the other filters and going back to the first page."""
    current = context["filters"].sort
    query = context["request"].GET.copy()
    query["sort"] = alt if current == key and alt else key
    query.pop("page", None)
    arrow, aria = "", ""
    if current == key:
        arrow, aria = " ▲", ' aria-sort="ascending"'
    elif alt and current == alt:
        arrow, aria = " ▼", ' aria-sort="descending"'
    return format_html(
        '<th scope="col"{}><a class="link-body-emphasis text-decoration-none" href="?{}">'
        "{}{}</a></th>",
        mark_safe(aria),  # one of the two literal attributes above
        query.urlencode(),
        label,
        arrow,
    )
