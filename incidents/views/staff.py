"""The staff incident page and the one view every staff action posts to."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from incidents.diagram import escalation_diagram
from incidents.forms import ACTIONS, ActionCall, ActionForm, action_form, available_actions
from incidents.models import ACTIVE_STATES, Escalation, Incident
from incidents.roles import is_staff_member
from incidents.selectors import (
    incident_get_for_staff,
    incident_page,
    response_words,
    sla_bar,
)
from incidents.selectors_deescalation import major_incident_criteria
from incidents.services.errors import ActionRefused, IncidentChanged
from incidents.sla import sla_resolution_consumed

TIMELINE_FILTERS = {
    "all": "All",
    "public": "Public",
    "internal": "Internal",
    "escalation": "Escalation",
}


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users log in first; people without a staff role get 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_staff_member(request.user):
            raise PermissionDenied(
                "Staff pages need a support, incident manager or IT operations role."
            )
        return view(request, *args, **kwargs)

    return wrapped


def plan_edit_url(number: str) -> str | None:
    """The plan editor belongs to the incident managers' pages; link to it when it exists."""
    try:
        return reverse("plan-edit", args=[number])
    except NoReverseMatch:
        return None


@dataclass
class Outcome:
    """What became of a posted action: done, or a form to show again with a status code."""

    ok: bool
    form: ActionForm | None = None
    status: int = 200
    message: str = ""


def perform_action(request: HttpRequest, *, incident: Incident, slug: str) -> Outcome:
    """Validate the posted form for `slug` and call its service; never lets a refusal 500."""
    action = ACTIONS.get(slug)
    if action is None:
        return Outcome(ok=False, status=404, message="There is no such action.")
    case = Escalation.objects.filter(incident=incident, state__in=ACTIVE_STATES).first()
    form = action_form(action, incident=incident, case=case, data=request.POST)
    if not form.is_valid():
        return Outcome(ok=False, form=form, status=400)
    data = form.cleaned_data
    seen_case = data.get("seen_case") or ""
    try:
        # The page showed another case (or none): whatever was clicked is out of date.
        if seen_case != (str(case.pk) if case else ""):
            raise IncidentChanged()
        action.run(
            ActionCall(
                incident=incident,
                case=case,
                actor=request.user,
                data=data,
                seen_state=data.get("seen_state") or None,
            )
        )
    except IncidentChanged as exc:
        return Outcome(ok=False, status=409, message=exc.message)
    except ActionRefused as exc:
        form.add_error(None, exc.message)
        return Outcome(ok=False, form=form, status=400, message=exc.message)
    return Outcome(ok=True, message=action.done)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def incident_context(
    request: HttpRequest, *, incident: Incident, bound: ActionForm | None = None,
    bound_slug: str = "",
) -> dict[str, Any]:  # fmt: skip
    now = timezone.now()
    timeline_filter = request.GET.get("timeline", "all")
    if timeline_filter not in TIMELINE_FILTERS:
        timeline_filter = "all"
    page = incident_page(incident=incident, timeline_filter=timeline_filter)
    case = page.case
    actions = available_actions(incident=incident, case=case, user=request.user)
    forms = []
    for action in actions:
        form = bound if action.slug == bound_slug and bound is not None else None
        forms.append((action, form or action_form(action, incident=incident, case=case)))
    shown = case or (page.cases[0] if page.cases else None)
    response_text, response_tone = response_words(incident=incident, now=now)
    return {
        "incident": incident,
        "page": page,
        "case": case,
        "shown_case": shown,
        "earlier_cases": [c for c in page.cases if c is not shown],
        "actions": forms,
        "criteria": major_incident_criteria(incident)
        if any(action.slug == "classify_major" for action in actions)
        else None,
        "open_action": bound_slug if bound is not None else "",
        "sla": sla_bar(incident=incident, used=sla_resolution_consumed(incident, now=now), now=now),
        "sla_running": incident.is_open,
        "response_text": response_text,
        "response_tone": response_tone,
        "diagram": escalation_diagram(current=shown.state if shown else None, path=page.case_path),
        "timeline_filters": TIMELINE_FILTERS,
        "timeline_filter": timeline_filter,
        "plan_edit_url": plan_edit_url(incident.number)
        if case is not None
        and case.state == Escalation.State.ESCALATED
        and request.user.has_perm("incidents.manage_deescalation")
        else None,
        "self_loops": [
            ("record_prevention", "imminent"),
            ("acknowledge, escalate further, log action", "major"),
        ],
    }


@require_GET
@staff_required
def incident_detail(request: HttpRequest, number: str) -> HttpResponse:
    incident = _incident_or_404(number)
    return render(request, "incidents/staff/incident_detail.html",
                  incident_context(request, incident=incident))  # fmt: skip


@require_POST
@staff_required
def incident_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    incident = _incident_or_404(number)
    outcome = perform_action(request, incident=incident, slug=action)
    here = reverse("incident-detail", args=[incident.number])
    if outcome.ok:
        messages.success(request, outcome.message)
        return redirect(_safe_next(request, here))
    if outcome.status == 404:
        return HttpResponse(outcome.message, status=404)
    if outcome.status == 409:
        messages.warning(request, outcome.message)
    incident = _incident_or_404(number)  # show where it stands now
    context = incident_context(request, incident=incident, bound=outcome.form,
                               bound_slug=action if outcome.form is not None else "")  # fmt: skip
    return render(request, "incidents/staff/incident_detail.html", context, status=outcome.status)


def _incident_or_404(number: str) -> Incident:
    try:
        return incident_get_for_staff(number=number)
    except Incident.DoesNotExist:
        return get_object_or_404(Incident, number=number)


urlpatterns = [
    path("incidents/<str:number>/", incident_detail, name="incident-detail"),
    path("incidents/<str:number>/actions/<slug:action>/", incident_action, name="incident-action"),
]
