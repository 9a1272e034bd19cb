"""Pages for the person who reported an incident: report, list, status page and its actions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from incidents.forms_initiator import (
    CommentForm,
    ConfirmResolvedForm,
    EscalationRequestForm,
    IncidentReportForm,
    ReopenForm,
)
from incidents.models import EscalationState, Incident
from incidents.selectors_boards import (
    escalation_latest_for,
    escalation_stage_steps,
    incident_get_for_initiator,
    incident_list_for_initiator,
    initiator_status_story,
    notification_list_for_incident,
    timeline_public_for,
)
from incidents.selectors_deescalation import next_update_due
from incidents.services.errors import ActionRefused
from incidents.services.escalations import escalation_request, escalation_request_blocker
from incidents.services.incidents import (
    incident_add_comment,
    incident_close,
    incident_reopen,
    incident_report,
)

from .actions import page_action

LIST_FILTERS = {
    "open": ("Open", {"status__in": Incident.OPEN_STATUSES}),
    "resolved": ("Resolved", {"status": Incident.Status.RESOLVED}),
    "closed": ("Closed", {"status__in": [Incident.Status.CLOSED, Incident.Status.CANCELLED]}),
    "all": ("All", {}),
}


@login_required
def my_incidents(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "all")
    if show not in LIST_FILTERS:
        show = "all"
    incidents = incident_list_for_initiator(user=request.user).filter(**LIST_FILTERS[show][1])
    page = Paginator(incidents, 20).get_page(request.GET.get("page"))
    labels = dict(EscalationState.choices)
    for incident in page.object_list:
        incident.escalation_label = labels.get(incident.escalation_state, "")
    return render(
        request,
        "incidents/initiator/list.html",
        {
            "page": page,
            "show": show,
            "filters": [(key, label) for key, (label, _) in LIST_FILTERS.items()],
        },
    )


@login_required
def incident_new(request: HttpRequest) -> HttpResponse:
    form = IncidentReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incident = incident_report(initiator=request.user, **form.cleaned_data)
        except ActionRefused as refused:
            form.add_error(None, refused.message)
        else:
            messages.success(
                request, f"Thank you. Your incident {incident.number} is with the service desk."
            )
            return redirect("my-incident", number=incident.number)
    status = 400 if form.is_bound else 200
    return render(request, "incidents/initiator/new.html", {"form": form}, status=status)


def _status_page(
    request: HttpRequest,
    incident: Incident,
    *,
    bound: dict | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    case = escalation_latest_for(incident=incident)
    transitions = {t.name for t in incident.get_available_user_status_transitions(user)}
    seen = {"seen_state": incident.status}
    forms = {
        "escalate": EscalationRequestForm(prefix="escalate"),
        "close": ConfirmResolvedForm(prefix="close", initial=seen),
        "reopen": ReopenForm(prefix="reopen", initial=seen),
        "comment": CommentForm(prefix="comment"),
        **(bound or {}),
    }
    context = {
        "incident": incident,
        "case": case,
        "story": initiator_status_story(incident=incident, case=case),
        "stages": escalation_stage_steps(case=case),
        "next_update": next_update_due(incident) if case and case.is_active else None,
        "timeline": timeline_public_for(incident=incident),
        "notifications": notification_list_for_incident(incident=incident, user=user),
        "escalation_blocker": escalation_request_blocker(incident=incident, user=user),
        "can_close": "close" in transitions,
        "can_reopen": "reopen" in transitions,
        "forms": forms,
        "refusal": refusal,
    }
    return render(request, "incidents/initiator/detail.html", context, status=status)


@login_required
def incident_status(request: HttpRequest, number: str) -> HttpResponse:
    return _status_page(request, incident_get_for_initiator(user=request.user, number=number))


def _ask_escalation(request, incident, data):
    escalation_request(incident=incident, actor=request.user, reason=data["reason"])
    return "Your escalation request is with the service desk. You will hear the outcome here."


def _confirm_resolved(request, incident, data):
    incident_close(
        incident=incident, actor=request.user, note=data["note"],
        seen_state=data["seen_state"] or None,
    )  # fmt: skip
    return "Thank you for confirming. The incident is closed."


def _reopen(request, incident, data):
    incident_reopen(
        incident=incident, actor=request.user, reason=data["reason"],
        seen_state=data["seen_state"] or None,
    )  # fmt: skip
    return "The incident is open again; support has your explanation."


def _comment(request, incident, data):
    incident_add_comment(incident=incident, actor=request.user, comment=data["comment"])
    return "Your message has been added."


ACTIONS = {
    "escalate": (EscalationRequestForm, _ask_escalation),
    "close": (ConfirmResolvedForm, _confirm_resolved),
    "reopen": (ReopenForm, _reopen),
    "comment": (CommentForm, _comment),
}


@require_POST
@login_required
def incident_status_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    incident = incident_get_for_initiator(user=request.user, number=number)
    return page_action(
        request,
        registry=ACTIONS,
        action=action,
        target=incident,
        reload=lambda: incident_get_for_initiator(user=request.user, number=number),
        render=lambda target, **context: _status_page(request, target, **context),
        done=redirect("my-incident", number=incident.number),
    )


urlpatterns = [
    path("my/incidents/", my_incidents, name="my-incidents"),
    path("my/incidents/new/", incident_new, name="incident-report"),
    path("my/incidents/<str:number>/", incident_status, name="my-incident"),
    path(
        "my/incidents/<str:number>/<slug:action>/",
        incident_status_action,
        name="my-incident-action",
    ),
]
