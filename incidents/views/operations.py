"""Pages for IT operations: the major-incident queue and the workspace for one of them."""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from incidents.forms_plan import (
    AcknowledgeForm,
    EscalateFurtherForm,
    HandOverForm,
    LogActionForm,
    StatusUpdateForm,
)
from incidents.models import Escalation
from incidents.selectors_boards import (
    escalation_get_for_staff,
    major_list_for_operations,
    major_recently_handed_over,
    operations_log_for,
    timeline_for_staff,
)
from incidents.services.deescalation import status_update_post
from incidents.services.errors import ActionRefused
from incidents.services.operations import (
    major_acknowledge,
    major_escalate_further,
    major_hand_over,
    major_log_action,
)

from .home import refusal_message, role_required

S = Escalation.State


@role_required("operate_major")
def queue(request: HttpRequest) -> HttpResponse:
    cases = list(major_list_for_operations())
    user = request.user
    for case in cases:
        # The FSM decides the row's quick action; its conditions read only loaded fields.
        case.may_acknowledge = any(
            t.name == "acknowledge" for t in case.get_available_user_state_transitions(user)
        )
    return render(
        request,
        "incidents/operations/queue.html",
        {
            "cases": cases,
            "unacknowledged": sum(1 for c in cases if c.acknowledged_at is None),
            "handed_over": major_recently_handed_over(),
            "now": timezone.now(),
        },
    )


def _workspace(
    request: HttpRequest,
    case: Escalation,
    *,
    bound: dict | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    seen = {"seen_state": case.state}
    forms = {
        "acknowledge": AcknowledgeForm(prefix="acknowledge", initial=seen),
        "escalate_further": EscalateFurtherForm(prefix="escalate_further", initial=seen),
        "log_action": LogActionForm(prefix="log_action", initial=seen),
        "hand_over": HandOverForm(prefix="hand_over", initial=seen),
        "status_update": StatusUpdateForm(prefix="status_update", initial=seen),
        **(bound or {}),
    }
    return render(
        request,
        "incidents/operations/workspace.html",
        {
            "case": case,
            "incident": case.incident,
            "transitions": {
                t.name for t in case.get_available_user_state_transitions(request.user)
            },
            "forms": forms,
            "log": operations_log_for(escalation=case),
            "timeline": timeline_for_staff(incident=case.incident, limit=15),
            "refusal": refusal,
            "now": timezone.now(),
        },
        status=status,
    )


@role_required("operate_major")
def workspace(request: HttpRequest, number: str) -> HttpResponse:
    return _workspace(request, escalation_get_for_staff(number=number))


def _acknowledge(request, case, data):
    major_acknowledge(
        escalation=case, actor=request.user, note=data.get("note", ""),
        seen_state=data.get("seen_state") or None,
    )  # fmt: skip
    return "Acknowledged: IT operations have this major incident."


def _escalate_further(request, case, data):
    major_escalate_further(
        escalation=case, actor=request.user, stakeholders=data["stakeholders"],
        note=data["note"], seen_state=data["seen_state"] or None,
    )  # fmt: skip
    return f"Escalated further to {data['stakeholders']}."


def _log_action(request, case, data):
    major_log_action(
        escalation=case, actor=request.user, note=data["note"],
        seen_state=data["seen_state"] or None,
    )  # fmt: skip
    return "The action is logged."


def _hand_over(request, case, data):
    major_hand_over(
        escalation=case, actor=request.user, note=data["note"],
        seen_state=data["seen_state"] or None,
    )  # fmt: skip
    return "Handed over: the incident managers now plan the deescalation."


def _update(request, case, data):
    status_update_post(incident=case.incident, actor=request.user, message=data["message"])
    return "The status update was sent to the initiator."


ACTIONS: dict[str, tuple[Any, Any]] = {
    "acknowledge": (AcknowledgeForm, _acknowledge),
    "escalate_further": (EscalateFurtherForm, _escalate_further),
    "log_action": (LogActionForm, _log_action),
    "hand_over": (HandOverForm, _hand_over),
    "status_update": (StatusUpdateForm, _update),
}


@require_POST
@role_required("operate_major")
def workspace_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    case = escalation_get_for_staff(number=number)
    if action not in ACTIONS:
        raise Http404("No such action.")
    form_class, perform = ACTIONS[action]
    form = form_class(request.POST, prefix=action)
    if not form.is_valid():
        return _workspace(request, case, bound={action: form}, status=400)
    try:
        message = perform(request, case, form.cleaned_data)
    except ActionRefused as refused:
        case = escalation_get_for_staff(number=number)
        return _workspace(request, case, refusal=refusal_message(refused), status=409)
    messages.success(request, message)
    if request.POST.get("back") == "queue":
        return redirect("operations-queue")
    return redirect("operations-incident", number=number)


urlpatterns = [
    path("operations/", queue, name="operations-queue"),
    path("operations/incidents/<str:number>/", workspace, name="operations-incident"),
    path(
        "operations/incidents/<str:number>/act/<slug:action>/",
        workspace_action,
        name="operations-action",
    ),
]
