"""First-level support: the queue with its tabs, and the entitlement check screen."""

from functools import partial
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from incidents.entitlement import entitlement_recommendation
from incidents.forms import ACTIONS, action_form, available_actions
from incidents.models import Escalation, Priority
from incidents.pagination import CountedPaginator
from incidents.selectors import (
    QueueFilters,
    duration_words,
    escalation_earlier_cases,
    escalation_list_entitlement,
    escalation_list_imminent,
    escalation_list_recently_decided,
    incident_count_support_queue,
    incident_list_support_queue,
    queue_assignee_choices,
    services,
    sla_bar,
    sla_used_share,
    support_group_ids,
    support_tab_counts,
)
from incidents.selectors_deescalation import major_incident_criteria
from incidents.sla import sla_is_stale, sla_resolution_consumed, sla_stale_hours

from .staff import perform_action, staff_required

PAGE_SIZE = 25
BADGE_CAP = 999  # a tab badge above this says "999+"
TABS = {
    "queue": "Open incidents",
    "imminent": "Imminent escalations",
    "entitlement": "Entitlement checks waiting",
    "decided": "Recently decided",
}
DECISIONS = ("escalate", "reject", "avoid", "classify_major")


@require_GET
@staff_required
def support_queue(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    tab = request.GET.get("tab", "queue")
    if tab not in TABS:
        tab = "queue"
    group_ids = support_group_ids(user=request.user)
    filters = QueueFilters.from_query(request.GET)
    count = None  # the tabs' pages count their own queryset
    if tab == "queue":
        rows: Any = incident_list_support_queue(
            user=request.user, group_ids=group_ids, filters=filters
        )
        # A search counts its matches up to the badge's cap: an exact count of a common
        # word reads every open incident's index entry, and nobody pages through 40 pages
        # of a search instead of refining it.
        count = partial(
            incident_count_support_queue, user=request.user, group_ids=group_ids,
            filters=filters, limit=BADGE_CAP + 1 if filters.q else None,
        )  # fmt: skip
    elif tab == "imminent":
        rows = escalation_list_imminent(group_ids=group_ids)
    elif tab == "entitlement":
        rows = escalation_list_entitlement(group_ids=group_ids)
    else:
        rows = escalation_list_recently_decided(group_ids=group_ids, user=request.user, now=now)
    page = CountedPaginator(rows, PAGE_SIZE, count=count).get_page(request.GET.get("page"))
    # The stale thresholds (SLA policies) once for the page; the rest is arithmetic on rows.
    stale_hours = sla_stale_hours() if tab == "queue" else {}
    for row in page:
        incident = row if tab == "queue" else row.incident
        if tab != "decided":
            row.sla = sla_bar(incident=incident, used=sla_used_share(incident, now=now), now=now)
        if tab == "queue":
            row.stale = sla_is_stale(incident, now=now, hours=stale_hours)
        started = getattr(row, "requested_at", None) or row.created_at
        row.age = duration_words((now - started).total_seconds())
    counts = support_tab_counts(group_ids=group_ids, user=request.user, now=now)
    # The open-incidents badge: the page's own total on its tab (filters applied), else
    # what that tab opens on (no filters), counted up to the badge's cap.
    if tab == "queue":
        counts["queue"] = page.paginator.count
    else:
        counts["queue"] = incident_count_support_queue(
            user=request.user, group_ids=group_ids, filters=QueueFilters(), limit=BADGE_CAP + 1
        )
    counts["queue_capped"] = counts["queue"] > BADGE_CAP
    total_capped = tab == "queue" and bool(filters.q) and counts["queue_capped"]
    context = {
        "tab": tab,
        "tabs": TABS,
        "counts": counts,
        "page": page,
        "badge_cap": BADGE_CAP,
        "total_capped": total_capped,
        "filters": filters,
        "now": now,
        "scoped": bool(group_ids),
    }
    if request.htmx:
        # The self-refresh and the filters swap only the queue body: the filter inputs,
        # the page and the scroll position stay where the user left them.
        return render(request, "incidents/support/_queue_body.html", context)
    context |= {
        "priorities": Priority.choices,
        "services": services(),
        "assignees": queue_assignee_choices(group_ids=group_ids, selected=filters.assignee),
    }
    return render(request, "incidents/support/queue.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def entitlement_check(request: HttpRequest, pk: int) -> HttpResponse:
    case = get_object_or_404(
        Escalation.objects.select_related(
            "incident__service", "incident__initiator", "incident__assignee", "raised_by",
            "decided_by",
        ),
        pk=pk,
    )  # fmt: skip
    incident = case.incident
    bound, bound_slug, status = None, "", 200
    if request.method == "POST":
        slug = request.POST.get("action", "")
        if slug not in DECISIONS:
            return HttpResponse("There is no such decision.", status=400)
        outcome = perform_action(request, incident=incident, slug=slug)
        if outcome.ok:
            messages.success(request, f"{incident.number}: {outcome.message}")
            return redirect(f"{reverse('support-queue')}?tab=entitlement")
        if outcome.status == 409:
            messages.warning(request, outcome.message)
        else:
            bound, bound_slug = outcome.form, slug
        status = outcome.status
        case = get_object_or_404(Escalation.objects.select_related("decided_by"), pk=pk)
        case.incident = incident = (
            type(incident)
            .objects.select_related("service", "initiator", "assignee")
            .get(pk=incident.pk)
        )
    now = timezone.now()
    current = case if case.is_active else None
    offered = [
        a for a in available_actions(incident=incident, case=current, user=request.user)
        if a.slug in DECISIONS
    ]  # fmt: skip
    decisions = [
        (a, bound if a.slug == bound_slug and bound is not None
         else action_form(a, incident=incident, case=current))
        for a in offered
    ]  # fmt: skip
    recommendation = entitlement_recommendation(incident=incident, now=now)
    used = sla_resolution_consumed(incident, now=now)
    context = {
        "criteria": major_incident_criteria(case.incident)
        if any(action.slug == "classify_major" for action, _ in decisions)
        else None,
        "case": case,
        "incident": incident,
        "recommendation": recommendation,
        "sla": sla_bar(incident=incident, used=used, now=now),
        "earlier": escalation_earlier_cases(escalation=case),
        "decisions": decisions,
        "open_decision": bound_slug or ("escalate" if recommendation.entitled else "reject"),
        "actions_all": ACTIONS,
    }
    return render(request, "incidents/support/entitlement_check.html", context, status=status)


urlpatterns = [
    path("support/", support_queue, name="support-queue"),
    path("support/escalations/<int:pk>/check/", entitlement_check, name="entitlement-check"),
]
