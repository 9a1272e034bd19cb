"""Pages for incident managers: the board, the deescalation workspace and the plan editor.

Also "My activities", for any staff member who owns deescalation activities.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from incidents.forms_plan import (
    ActivityCancelForm,
    ActivityCompleteForm,
    ActivityForm,
    ActivityFormSet,
    ConfirmDeescalationForm,
    PlanForm,
    ReturnPlanForm,
    StatusUpdateForm,
)
from incidents.models import DeescalationActivity, Escalation
from incidents.models.conditions import refusal_of
from incidents.selectors_boards import (
    activity_list_for_plan,
    escalation_get_for_staff,
    escalation_handover,
    manager_board,
    timeline_for_staff,
    user_list_staff,
)
from incidents.selectors_deescalation import activity_lists_for_owner, next_update_due
from incidents.services.deescalation import (
    ActivityDraft,
    activity_add,
    activity_cancel,
    activity_complete,
    plan_draft,
    plan_reorder,
    plan_submit,
)
from incidents.services.errors import ActionRefused, IncidentChanged

from .actions import page_action, staff_action
from .home import CHANGED, refusal_message, role_required

S = Escalation.State
# Status updates go out while the incident is escalated in any form.
UPDATE_STATES = {S.ESCALATED, S.MAJOR, S.PLAN_SUBMITTED, S.DEESCALATING}


@role_required("manage_deescalation")
def board(request: HttpRequest) -> HttpResponse:
    data = manager_board()
    summary = [
        ("waiting_for_plan", "Waiting for a plan", len(data.waiting_for_plan)),
        ("waiting_for_approval", "Plans to approve", len(data.waiting_for_approval)),
        ("deescalating", "Deescalating", len(data.deescalating)),
        ("major", "Major incidents", len(data.major)),
    ]
    return render(request, "incidents/manager/board.html", {"board": data, "summary": summary})


def _workspace(
    request: HttpRequest,
    case: Escalation,
    *,
    bound: dict | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    transitions = {t.name for t in case.get_available_user_state_transitions(user)}
    seen = {"seen_state": case.state}
    activities = activity_list_for_plan(escalation=case)
    may_manage = user.has_perm("incidents.manage_deescalation")
    ids = [a.pk for a in activities]
    for index, activity in enumerate(activities):
        activity.may_complete = any(
            t.name == "complete" for t in activity.get_available_user_status_transitions(user)
        )
        # The whole new order each button posts: the service refuses it if the plan's
        # activities changed in between (someone added one).
        activity.up_order = _swapped(ids, index, index - 1) if index > 0 else ""
        activity.down_order = _swapped(ids, index, index + 1) if index < len(ids) - 1 else ""
    forms = {
        "return_plan": ReturnPlanForm(prefix="return_plan", initial=seen),
        "confirm_deescalation": ConfirmDeescalationForm(
            prefix="confirm_deescalation", initial=seen
        ),
        "status_update": StatusUpdateForm(prefix="status_update", initial=seen),
        "complete": ActivityCompleteForm(prefix="complete"),
        "add_activity": ActivityForm(prefix="add_activity"),
        "cancel": ActivityCancelForm(prefix="cancel"),
        **(bound or {}),
    }
    plan = getattr(case, "plan", None)
    return render(
        request,
        "incidents/manager/workspace.html",
        {
            "case": case,
            "incident": case.incident,
            "plan": plan,
            "activities": activities,
            "done": sum(1 for a in activities if a.status != "open"),
            "overdue": sum(1 for a in activities if a.is_overdue),
            "transitions": transitions,
            "may_edit_plan": case.state == S.ESCALATED
            and user.has_perm("incidents.manage_deescalation"),
            "may_post_update": case.state in UPDATE_STATES,
            "may_reorder": may_manage and case.state in (S.ESCALATED, S.DEESCALATING),
            "may_change_plan": may_manage and case.state == S.DEESCALATING,
            "confirm_blockers": confirm_blockers(case, user),
            "handover": escalation_handover(case=case),
            "next_update": next_update_due(case.incident) if case.is_active else None,
            "now": timezone.now(),
            "forms": forms,
            "bound_activity": (bound or {}).get("activity_pk"),
            "bound_cancel": (bound or {}).get("cancel_pk"),
            "timeline": timeline_for_staff(incident=case.incident, limit=15),
            "refusal": refusal,
        },
        status=status,
    )


def _swapped(ids: list[int], a: int, b: int) -> str:
    order = list(ids)
    order[a], order[b] = order[b], order[a]
    return ",".join(map(str, order))


def confirm_blockers(case: Escalation, user: Any) -> list[str]:
    """Why "confirm deescalation" is not offered yet, in the sentences the service would
    refuse it with (every activity finished; a post-incident review for a once-major case)."""
    meta = case.confirm_deescalation._django_fsm
    if not meta.has_transition(case.state) or not meta.has_transition_perm(case, case.state, user):
        return []
    return [refusal_of(check) for check in meta.get_transition(case.state).conditions
            if not check(case)]  # fmt: skip


@role_required("manage_deescalation")
def workspace(request: HttpRequest, number: str) -> HttpResponse:
    return _workspace(request, escalation_get_for_staff(number=number))


def _add_activity(request, case, data):
    created = activity_add(
        escalation=case, actor=request.user,
        activity=ActivityDraft(data["description"], data["owner"], data["due_at"]),
    )  # fmt: skip
    return f"Added to the plan: {created.description[:60]}. The owner and the initiator are told."


def _reorder(request, case, data):
    plan_reorder(escalation=case, actor=request.user, order=data["order"])
    return "The activities are reordered."


class ReorderForm(forms.Form):
    order = forms.CharField(widget=forms.HiddenInput)

    def clean_order(self) -> list[int]:
        try:
            return [int(pk) for pk in self.cleaned_data["order"].split(",")]
        except ValueError:
            raise forms.ValidationError("The new order could not be read.") from None


# action -> (form class or None for a plain button, service call)
ACTIONS: dict[str, tuple[Any, Any]] = {
    "submit_plan": (None, staff_action("submit_plan", done="The plan is submitted for approval.")),
    "approve_plan": (
        None,
        staff_action(
            "approve_plan",
            done=(
                "The plan is approved: the owners have their activities and the initiator is told."
            ),
        ),
    ),
    "return_plan": (
        ReturnPlanForm,
        staff_action("return_plan", done="The plan went back to its author for rework."),
    ),
    "confirm_deescalation": (
        ConfirmDeescalationForm,
        staff_action(
            "confirm_deescalation", done="Deescalation confirmed. The initiator has been told."
        ),
    ),
    "status_update": (
        StatusUpdateForm,
        staff_action("status_update", done="The status update was sent to the initiator."),
    ),
    "add_activity": (ActivityForm, _add_activity),
    "reorder": (ReorderForm, _reorder),
}


@require_POST
@role_required("manage_deescalation")
def workspace_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    return page_action(
        request,
        registry=ACTIONS,
        action=action,
        target=escalation_get_for_staff(number=number),
        reload=lambda: escalation_get_for_staff(number=number),
        render=lambda case, **context: _workspace(request, case, **context),
        done=redirect("manager-incident", number=number),
    )


def _plan_initial(case: Escalation) -> tuple[dict, list[dict]]:
    plan = getattr(case, "plan", None)
    if plan is None:
        return {}, []
    activities = [
        {
            "description": a.description,
            "owner": a.owner_id,
            "due_at": timezone.localtime(a.due_at),
        }
        for a in plan.activities.all()
    ]
    return {"summary": plan.summary, "seen_revision": plan.revision}, activities


@role_required("manage_deescalation")
def plan_edit(request: HttpRequest, number: str) -> HttpResponse:
    case = escalation_get_for_staff(number=number)
    if case.state != S.ESCALATED:
        state = case.get_state_display().lower()
        if request.method == "POST":
            # Submitted, approved or made major by someone else since this page was opened.
            messages.error(
                request, f"{CHANGED}: the escalation is now {state}, so your changes to the "
                "plan were not saved.",
            )  # fmt: skip
        else:
            messages.info(request, f"The plan cannot be edited now: the escalation is {state}.")
        return redirect("manager-incident", number=number)
    staff = user_list_staff()
    plan_initial, activity_initial = _plan_initial(case)
    plan_initial.setdefault("seen_revision", 0)
    conflict = ""
    if request.method == "POST":
        form = PlanForm(request.POST)
        formset = ActivityFormSet(request.POST, prefix="activities", staff=staff)
    else:
        form = PlanForm(initial=plan_initial)
        formset = ActivityFormSet(
            prefix="activities", staff=staff, initial=activity_initial or None
        )
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        drafts = [
            ActivityDraft(f.cleaned_data["description"], f.cleaned_data["owner"],
                          f.cleaned_data["due_at"])
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]  # fmt: skip
        try:
            if not drafts:
                raise ActionRefused("A deescalation plan needs at least one activity.")
            plan_draft(
                escalation=case, actor=request.user, summary=form.cleaned_data["summary"],
                activities=drafts, seen_revision=form.cleaned_data["seen_revision"],
            )  # fmt: skip
            if "submit" in request.POST:
                plan_submit(escalation=case, actor=request.user, seen_state=S.ESCALATED)
        except IncidentChanged as changed:
            # Show the plan as it is now: the user's version cannot be merged into it.
            conflict = refusal_message(changed)
            case = escalation_get_for_staff(number=number)
            plan_initial, activity_initial = _plan_initial(case)
            form = PlanForm(initial=plan_initial)
            formset = ActivityFormSet(
                prefix="activities", staff=staff, initial=activity_initial or None
            )
        except ActionRefused as refused:
            form.add_error(None, refusal_message(refused))
        else:
            messages.success(
                request,
                "The plan is submitted for approval."
                if "submit" in request.POST
                else "The plan is saved as a draft.",
            )
            return redirect("manager-incident", number=number)
    status = (409 if conflict else 400) if request.method == "POST" else 200
    return render(
        request,
        "incidents/manager/plan_edit.html",
        {
            "conflict": conflict,
            "case": case,
            "incident": case.incident,
            "form": form,
            "formset": formset,
            "handover": escalation_handover(case=case),
        },
        status=status,
    )


# --- my activities (any staff member who owns one) ------------------------------------


def _my_activities(
    request: HttpRequest, *, bound=None, refusal: str = "", status: int = 200
) -> HttpResponse:
    open_ones, finished = activity_lists_for_owner(user=request.user)
    return render(
        request,
        "incidents/manager/my_activities.html",
        {
            "open": open_ones,
            "finished": finished,
            "form": ActivityCompleteForm(prefix="complete"),
            "bound": bound,
            "refusal": refusal,
        },
        status=status,
    )


@role_required("work_incident")
def my_activities(request: HttpRequest) -> HttpResponse:
    return _my_activities(request)


@require_POST
@role_required("work_incident")
def activity_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_object_or_404(
        DeescalationActivity.objects.select_related("plan__escalation__incident"), pk=pk
    )
    number = activity.plan.escalation.incident.number
    from_workspace = request.POST.get("back") == "workspace"
    may = any(
        t.name == "complete" for t in activity.get_available_user_status_transitions(request.user)
    )
    if not may and activity.status == DeescalationActivity.Status.OPEN:
        raise PermissionDenied("Only the activity's owner or an incident manager may do that.")
    form = ActivityCompleteForm(request.POST, prefix="complete")

    def again(**kwargs):
        if from_workspace and request.user.has_perm("incidents.manage_deescalation"):
            case = escalation_get_for_staff(number=number)
            bound = kwargs.pop("bound", None)
            return _workspace(
                request, case, bound={"complete": bound, "activity_pk": pk} if bound else None,
                **kwargs,
            )  # fmt: skip
        bound = kwargs.pop("bound", None)
        return _my_activities(request, bound={"pk": pk, "form": bound} if bound else None, **kwargs)

    if not form.is_valid():
        return again(bound=form, status=400)
    try:
        activity_complete(activity=activity, actor=request.user, note=form.cleaned_data["note"])
    except ActionRefused as refused:
        return again(refusal=refusal_message(refused), status=409)
    messages.success(request, f"Marked done: {activity.description[:60]}")
    if from_workspace:
        return redirect("manager-incident", number=number)
    return redirect("my-activities")


@require_POST
@role_required("manage_deescalation")
def activity_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Drop an activity the plan no longer needs, with the reason (incident managers)."""
    activity = get_object_or_404(
        DeescalationActivity.objects.select_related("plan__escalation__incident"), pk=pk
    )
    number = activity.plan.escalation.incident.number
    form = ActivityCancelForm(request.POST, prefix="cancel")
    if not form.is_valid():
        case = escalation_get_for_staff(number=number)
        return _workspace(request, case, bound={"cancel": form, "cancel_pk": pk}, status=400)
    try:
        if request.POST.get("seen_status", "open") != activity.status:
            raise IncidentChanged()
        activity_cancel(activity=activity, actor=request.user, reason=form.cleaned_data["reason"])
    except ActionRefused as refused:
        case = escalation_get_for_staff(number=number)
        return _workspace(request, case, refusal=refusal_message(refused), status=409)
    messages.success(request, f"Cancelled: {activity.description[:60]}")
    return redirect("manager-incident", number=number)


urlpatterns = [
    path("manager/", board, name="manager-board"),
    path("manager/incidents/<str:number>/", workspace, name="manager-incident"),
    path(
        "manager/incidents/<str:number>/act/<slug:action>/",
        workspace_action,
        name="manager-action",
    ),
    path("incidents/<str:number>/plan/", plan_edit, name="plan-edit"),
    path("my/activities/", my_activities, name="my-activities"),
    path("my/activities/<int:pk>/complete/", activity_complete_view, name="activity-complete"),
    path("manager/activities/<int:pk>/cancel/", activity_cancel_view, name="activity-cancel"),
]
