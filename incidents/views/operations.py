"""Pages for IT operations: the major-incident queue and the workspace for one of them."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from incidents.forms_plan import (
    AcknowledgeForm,
    EscalateFurtherForm,
    FollowUpFormSet,
    HandOverForm,
    ImpactForm,
    LinkIncidentForm,
    LogActionForm,
    ReviewForm,
    StatusUpdateForm,
)
from incidents.models import ACTIVE_STATES, Escalation, Incident, IncidentLink
from incidents.selectors_boards import (
    escalation_get_for_staff,
    major_list_for_operations,
    major_recently_handed_over,
    operations_log_for,
    timeline_for_staff,
    user_list_staff,
)
from incidents.selectors_deescalation import major_incident_criteria
from incidents.services.errors import ActionRefused, IncidentChanged
from incidents.services.major_incidents import (
    FollowUpDraft,
    incident_impact_record,
    major_link_incident,
    post_incident_review_submit,
)
from incidents.services.operations import (
    major_acknowledge,
    major_escalate_further,
)

from .actions import page_action, staff_action
from .home import refusal_message, role_required

S = Escalation.State


def ack_due(case: Escalation) -> datetime | None:
    """By when IT operations must acknowledge: after that they are alerted again."""
    if case.major_at is None or case.acknowledged_at is not None:
        return None
    return case.major_at + timedelta(minutes=settings.PORTAL["MAJOR_ACK_TIMEOUT_MINUTES"])


@role_required("operate_major")
def queue(request: HttpRequest) -> HttpResponse:
    cases = list(major_list_for_operations())
    user = request.user
    for case in cases:
        case.ack_due = ack_due(case)
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
    impact = getattr(case.incident, "impact_facts", None)
    forms = {
        "impact": ImpactForm(
            prefix="impact",
            initial={
                "users_affected": impact.users_affected if impact else None,
                "services_affected": impact.services_affected if impact else None,
                "note": impact.note if impact else "",
            },
        ),
        "link": LinkIncidentForm(prefix="link", initial=seen),
        "acknowledge": AcknowledgeForm(prefix="acknowledge", initial=seen),
        "escalate_further": EscalateFurtherForm(prefix="escalate_further", initial=seen),
        "log_action": LogActionForm(prefix="log_action", initial=seen),
        "hand_over": HandOverForm(prefix="hand_over", initial=seen),
        "status_update": StatusUpdateForm(prefix="status_update", initial=seen),
        **(bound or {}),
    }
    case.ack_due = ack_due(case)
    ever_major = case.major_at is not None and case.state in ACTIVE_STATES
    return render(
        request,
        "incidents/operations/workspace.html",
        {
            "case": case,
            "incident": case.incident,
            "criteria": major_incident_criteria(case.incident),
            "may_link": ever_major,
            "ever_major": case.major_at is not None,
            "linked": IncidentLink.objects.filter(major_case=case).select_related(
                "incident__initiator"
            ),
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
    picked, others, note = list(data["stakeholders"]), data["others"], data["note"]
    if picked and others:
        # The picked are e-mailed; whom IT operations told themselves goes on the record.
        note = f"{note} (Also told: {others}.)"
    major_escalate_further(
        escalation=case, actor=request.user, stakeholders=picked or others,
        note=note, seen_state=data["seen_state"] or None,
    )  # fmt: skip
    names = ", ".join([s.name for s in picked] + ([others] if others else []))
    return f"Escalated further to {names}."


def _impact(request, case, data):
    incident_impact_record(
        incident=case.incident, actor=request.user, users_affected=data["users_affected"],
        services_affected=data["services_affected"], note=data["note"],
    )  # fmt: skip
    return "The impact is recorded."


def _link(request, case, data):
    related = Incident.objects.get(number=data["number"])  # the form checked it exists
    major_link_incident(escalation=case, actor=request.user, incident=related, note=data["note"])
    return f"{related.number} is linked: its initiator now receives this incident's updates."


ACTIONS: dict[str, tuple[Any, Any]] = {
    "impact": (ImpactForm, _impact),
    "link": (LinkIncidentForm, _link),
    "acknowledge": (AcknowledgeForm, _acknowledge),
    "escalate_further": (EscalateFurtherForm, _escalate_further),
    "log_action": (LogActionForm, staff_action("log_action", done="The action is logged.")),
    "hand_over": (
        HandOverForm,
        staff_action(
            "hand_over", done="Handed over: the incident managers now plan the deescalation."
        ),
    ),
    "status_update": (
        StatusUpdateForm,
        staff_action("status_update", done="The status update was sent to the initiator."),
    ),
}


@require_POST
@role_required("operate_major")
def workspace_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    back_to_queue = request.POST.get("back") == "queue"
    return page_action(
        request,
        registry=ACTIONS,
        action=action,
        target=escalation_get_for_staff(number=number),
        reload=lambda: escalation_get_for_staff(number=number),
        render=lambda case, **context: _workspace(request, case, **context),
        done=(
            redirect("operations-queue")
            if back_to_queue
            else redirect("operations-incident", number=number)
        ),
    )


# --- the post-incident review (IT operations or the incident managers) -------------------


def _review_initial(case: Escalation) -> tuple[dict, list[dict]]:
    review = getattr(case, "review", None)
    if review is None:
        return {}, []
    return {"summary": review.summary, "cause": review.cause}, [
        {"description": f.description, "owner": f.owner_id, "due_at": f.due_at}
        for f in review.follow_ups.all()
    ]


@login_required
def review_edit(request: HttpRequest, number: str) -> HttpResponse:
    user = request.user
    if not (
        user.has_perm("incidents.operate_major") or user.has_perm("incidents.manage_deescalation")
    ):
        raise PermissionDenied("The post-incident review is written by IT operations or managers.")
    case = escalation_get_for_staff(number=number)
    if case.major_at is None:
        raise Http404("Only a major incident has a post-incident review.")
    back = "operations-incident" if user.has_perm("incidents.operate_major") else "manager-incident"
    editable = case.state in ACTIVE_STATES
    staff = user_list_staff()
    initial, follow_ups = _review_initial(case)
    if request.method == "POST" and editable:
        form = ReviewForm(request.POST)
        formset = FollowUpFormSet(request.POST, prefix="follow_ups", staff=staff)
    else:
        form = ReviewForm(initial=initial)
        formset = FollowUpFormSet(prefix="follow_ups", staff=staff, initial=follow_ups or None)
    status, refusal = 200, ""
    if request.method == "POST":
        status = 400
        if not editable:
            refusal = refusal_message(
                IncidentChanged("This escalation is over; its review can no longer change.")
            )
            status = 409
        elif form.is_valid() and formset.is_valid():
            drafts = [
                FollowUpDraft(f.cleaned_data["description"], f.cleaned_data["owner"],
                              f.cleaned_data.get("due_at"))
                for f in formset.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE")
            ]  # fmt: skip
            try:
                post_incident_review_submit(
                    escalation=case, actor=user, summary=form.cleaned_data["summary"],
                    cause=form.cleaned_data["cause"], follow_ups=drafts,
                )  # fmt: skip
            except ActionRefused as refused:
                form.add_error(None, refusal_message(refused))
                status = 409 if isinstance(refused, IncidentChanged) else 400
            else:
                messages.success(request, "The post-incident review is recorded.")
                return redirect(back, number=number)
    return render(
        request,
        "incidents/operations/review_edit.html",
        {"case": case, "incident": case.incident, "form": form, "formset": formset,
         "back": back, "editable": editable, "refusal": refusal},
        status=status,
    )  # fmt: skip


urlpatterns = [
    path("operations/", queue, name="operations-queue"),
    path("operations/incidents/<str:number>/", workspace, name="operations-incident"),
    path(
        "operations/incidents/<str:number>/act/<slug:action>/",
        workspace_action,
        name="operations-action",
    ),
    path("incidents/<str:number>/review/", review_edit, name="major-review"),
]
