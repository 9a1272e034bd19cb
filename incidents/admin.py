"""The admin: reference data is edited here; incidents and escalations only move through
the service layer (admin actions), and history (timeline, logs) is read-only.

An admin action never calls a transition method itself: it calls the same service a page
calls, with the logged-in user as the actor, so permissions, conditions, the timeline row
and the notifications are exactly those of the product. Refusals come back as messages.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from incidents.models import (
    DeescalationActivity,
    DeescalationPlan,
    Escalation,
    EscalationProcedure,
    FollowUpAction,
    Incident,
    IncidentImpact,
    IncidentLink,
    OperationsLog,
    PreventionAction,
    PriorityRule,
    Reminder,
    Service,
    SLAClock,
    StakeholderNotice,
    SupportGroup,
    TimelineEntry,
)
from incidents.services import deescalation, escalations, operations
from incidents.services import incidents as incident_services
from incidents.services.errors import ActionRefused, IncidentChanged

# --- actions through the service layer ------------------------------------------------


class ActionTextForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}))


@dataclass(frozen=True)
class ServiceAction:
    """One admin action that runs a service for each selected row.

    `target` is the keyword the service takes the row under (incident, escalation,
    activity); `text` is the keyword of the reason/note it needs, asked for on an
    intermediate page prefilled with "Decided in the admin by <user>".
    """

    name: str
    label: str
    service: Callable[..., Any]
    target: str
    text: str | None = None
    text_label: str = "Reason (the initiator may read it)"
    extra: Callable[[HttpRequest], dict[str, Any]] | None = None

    def as_admin_action(self) -> Callable[..., HttpResponse | None]:
        def action(modeladmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
            arguments: dict[str, Any] = {}
            if self.text:
                form = ActionTextForm(request.POST if "apply" in request.POST else None)
                form.fields["text"].label = self.text_label
                form.fields["text"].initial = f"Decided in the admin by {request.user}"
                if not form.is_bound or not form.is_valid():
                    return self._ask(modeladmin, request, queryset, form)
                arguments[self.text] = form.cleaned_data["text"]
            if self.extra:
                arguments.update(self.extra(request))
            self._run(modeladmin, request, queryset, arguments)
            return None

        action.__name__ = self.name
        return admin.action(description=self.label)(action)

    def _ask(self, modeladmin, request, queryset, form) -> TemplateResponse:
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": self.label,
            "opts": modeladmin.model._meta,
            "objects": list(queryset),
            "form": form,
            "action": self.name,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/incidents/action_text.html", context)

    def _run(self, modeladmin, request, queryset, arguments: dict[str, Any]) -> None:
        done = 0
        for obj in queryset:
            try:
                self.service(**{self.target: obj, "actor": request.user, **arguments})
            except IncidentChanged as refusal:
                # With no page state to compare, the generic "changed while you were
                # looking" means: not possible from where it stands. Say where that is.
                reason = refusal.message
                if reason == IncidentChanged().message:
                    reason = f"cannot {self.label.lower()} while it is {_state_of(obj)}."
                modeladmin.message_user(request, f"{obj}: {reason}", messages.WARNING)
            except ActionRefused as refusal:
                modeladmin.message_user(request, f"{obj}: {refusal.message}", messages.WARNING)
            except PermissionDenied as refusal:
                reason = str(refusal) or "You may not do that."
                modeladmin.message_user(request, f"{obj}: {reason}", messages.WARNING)
            else:
                done += 1
        if done:
            modeladmin.message_user(
                request, f"{self.label}: done for {done} of {len(queryset)}.", messages.SUCCESS
            )


def _state_of(obj: Model) -> str:
    # A fresh copy: a protected FSM field cannot be reloaded in place.
    obj = type(obj).objects.get(pk=obj.pk)
    for field in ("status", "state"):
        if hasattr(obj, f"get_{field}_display"):
            return getattr(obj, f"get_{field}_display")().lower()
    return "in its current state"


def _actions(*specs: ServiceAction) -> list[Callable[..., Any]]:
    return [spec.as_admin_action() for spec in specs]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History and operated records: seen here, changed only through services."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


# --- reference data: edited freely ----------------------------------------------------


@admin.register(SupportGroup)
class SupportGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "level"]
    list_filter = ["level"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "tier", "default_group"]
    list_filter = ["tier"]
    search_fields = ["name", "description"]
    list_select_related = ["default_group"]
    autocomplete_fields = ["default_group"]


@admin.register(PriorityRule)
class PriorityRuleAdmin(admin.ModelAdmin):
    list_display = ["impact", "urgency", "priority"]
    list_editable = ["priority"]
    list_display_links = ["impact"]


@admin.register(EscalationProcedure)
class EscalationProcedureAdmin(admin.ModelAdmin):
    list_display = ["priority", "functional", "hierarchical"]
    list_editable = ["functional", "hierarchical"]
    list_display_links = ["priority"]


# --- incidents and escalations: moved by actions --------------------------------------


class TimelineInline(ReadOnlyInline):
    model = TimelineEntry
    fields = ["created_at", "kind", "actor", "action", "from_state", "to_state", "public", "note"]
    readonly_fields = fields
    show_change_link = False


class EscalationInline(ReadOnlyInline):
    model = Escalation
    fields = ["state", "source", "kind", "level", "created_at", "ended_at"]
    readonly_fields = fields


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = [
        "number", "title", "service", "priority", "status", "support_level", "assignee",
        "is_major", "resolution_due", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "priority", "is_major", "support_level", "service", "assignment_group"]
    search_fields = ["number", "title", "description", "initiator__username", "initiator__email"]
    list_select_related = ["service", "assignee"]
    date_hierarchy = "created_at"
    inlines = [EscalationInline, TimelineInline]
    actions = _actions(
        ServiceAction("start_work", "Start work", incident_services.incident_start_work,
                      "incident"),
        ServiceAction("put_on_hold", "Put on hold (awaiting caller)",
                      incident_services.incident_put_on_hold, "incident", text="reason",
                      text_label="What you are waiting for from the caller"),
        ServiceAction("resume", "Resume work", incident_services.incident_resume, "incident"),
        ServiceAction("resolve", "Resolve", incident_services.incident_resolve, "incident",
                      text="note", text_label="How the incident was resolved"),
        ServiceAction("reopen", "Reopen", incident_services.incident_reopen, "incident",
                      text="reason"),
        ServiceAction("close", "Close", incident_services.incident_close, "incident"),
        ServiceAction("cancel_incident", "Cancel", incident_services.incident_cancel,
                      "incident", text="reason"),
        ServiceAction("flag_imminent", "Flag an imminent escalation",
                      escalations.escalation_flag_imminent, "incident", text="reason"),
        ServiceAction("request_escalation", "Request escalation",
                      escalations.escalation_request, "incident", text="reason"),
        ServiceAction("classify_major", "Classify as major incident",
                      escalations.escalation_classify_major, "incident", text="reason"),
    )  # fmt: skip


class PreventionInline(ReadOnlyInline):
    model = PreventionAction
    fields = ["created_at", "kind", "actor", "note"]
    readonly_fields = fields
    show_change_link = False


class OperationsLogInline(ReadOnlyInline):
    model = OperationsLog
    fields = ["created_at", "kind", "actor", "stakeholders", "note"]
    readonly_fields = fields
    show_change_link = False


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "state", "source", "kind", "level", "raised_by", "created_at"]
    list_filter = ["state", "source", "kind", "level"]
    search_fields = ["incident__number", "incident__title", "reason", "decision_reason"]
    list_select_related = ["incident", "raised_by"]
    date_hierarchy = "created_at"
    inlines = [PreventionInline, OperationsLogInline]
    actions = _actions(
        ServiceAction("escalate", "Escalate (entitled)", escalations.escalation_escalate,
                      "escalation", text="reason", text_label="Why the escalation is entitled"),
        ServiceAction("reject", "Reject", escalations.escalation_reject, "escalation",
                      text="reason"),
        ServiceAction("avoid", "Avoid", escalations.escalation_avoid, "escalation",
                      text="reason", text_label="What was done to avoid the escalation"),
        ServiceAction("cancel_escalation", "Cancel", escalations.escalation_cancel,
                      "escalation", text="reason"),
        ServiceAction("acknowledge", "Acknowledge major incident (IT operations)",
                      operations.major_acknowledge, "escalation"),
        ServiceAction("hand_over", "Hand over for deescalation (IT operations)",
                      operations.major_hand_over, "escalation", text="note",
                      text_label="The state you hand over in"),
        ServiceAction("submit_plan", "Submit deescalation plan", deescalation.plan_submit,
                      "escalation"),
        ServiceAction("approve_plan", "Approve deescalation plan", deescalation.plan_approve,
                      "escalation"),
        ServiceAction("return_plan", "Return deescalation plan for rework",
                      deescalation.plan_return, "escalation", text="comment",
                      text_label="What should be reworked"),
        ServiceAction("confirm_deescalation", "Confirm deescalation",
                      deescalation.deescalation_confirm, "escalation", text="note",
                      text_label="A closing note for the initiator"),
    )  # fmt: skip


class ActivityInline(ReadOnlyInline):
    model = DeescalationActivity
    fields = ["position", "description", "owner", "due_at", "status", "finished_at", "note"]
    readonly_fields = fields


@admin.register(DeescalationPlan)
class DeescalationPlanAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "author", "submitted_at", "approved_at", "approved_by"]
    search_fields = ["escalation__incident__number", "summary"]
    list_select_related = ["escalation__incident", "author", "approved_by"]
    inlines = [ActivityInline]


@admin.register(DeescalationActivity)
class DeescalationActivityAdmin(ReadOnlyAdmin):
    list_display = ["description", "plan", "owner", "due_at", "status", "finished_at"]
    list_filter = ["status"]
    search_fields = ["description", "plan__escalation__incident__number"]
    list_select_related = ["plan__escalation__incident", "owner"]
    actions = _actions(
        ServiceAction("complete_activity", "Mark done", deescalation.activity_complete,
                      "activity", text="note", text_label="What was done"),
        ServiceAction("cancel_activity", "Cancel activity", deescalation.activity_cancel,
                      "activity", text="reason", text_label="Why it is no longer needed"),
    )  # fmt: skip


# --- history: strictly read-only --------------------------------------------------------


@admin.register(PreventionAction)
class PreventionActionAdmin(ReadOnlyAdmin):
    list_display = ["escalation", "kind", "actor", "created_at"]
    list_filter = ["kind"]
    search_fields = ["note", "escalation__incident__number"]
    list_select_related = ["escalation__incident", "actor"]


@admin.register(OperationsLog)
class OperationsLogAdmin(ReadOnlyAdmin):
    list_display = ["escalation", "kind", "actor", "stakeholders", "created_at"]
    list_filter = ["kind"]
    search_fields = ["note", "stakeholders", "escalation__incident__number"]
    list_select_related = ["escalation__incident", "actor"]


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyAdmin):
    """Append-only: no add, no change, no delete, for superusers too."""

    list_display = ["created_at", "incident", "kind", "actor", "action", "from_state",
                    "to_state", "public"]  # fmt: skip
    list_filter = ["kind", "machine", "public"]
    search_fields = ["incident__number", "note"]
    list_select_related = ["incident", "actor"]
    date_hierarchy = "created_at"


# Records the deescalation and major-incident services write (their reference data is in
# admin_deescalation.py; SLA policies and calendars are in sla_admin.py): seen here,
# written only by the services.


@admin.register(IncidentLink)
class IncidentLinkAdmin(ReadOnlyAdmin):
    list_display = ["incident", "major_case", "linked_by", "linked_at"]
    search_fields = ["incident__number", "major_case__incident__number", "note"]
    list_select_related = ["incident", "major_case__incident", "linked_by"]


@admin.register(IncidentImpact)
class IncidentImpactAdmin(ReadOnlyAdmin):
    list_display = ["incident", "users_affected", "updated_by", "updated_at"]
    search_fields = ["incident__number", "note"]
    list_select_related = ["incident", "updated_by"]


@admin.register(StakeholderNotice)
class StakeholderNoticeAdmin(ReadOnlyAdmin):
    list_display = ["subject", "stakeholder", "email", "status", "attempts", "created_at"]
    list_filter = ["status"]
    search_fields = ["subject", "email"]
    list_select_related = ["stakeholder"]


@admin.register(FollowUpAction)
class FollowUpActionAdmin(ReadOnlyAdmin):
    list_display = ["description", "review", "owner", "due_at"]
    search_fields = ["description"]
    list_select_related = ["review__escalation__incident", "owner"]


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["kind", "escalation", "activity", "due_at", "sent_at"]
    list_filter = ["kind"]
    search_fields = ["escalation__incident__number"]
    list_select_related = ["escalation__incident", "activity"]


@admin.register(SLAClock)
class SLAClockAdmin(ReadOnlyAdmin):
    """Derived from the SLA events by the SLA engine; never edited by hand."""

    list_display = ["incident", "timer", "state", "due_at", "next_check_at"]
    list_filter = ["timer", "state"]
    search_fields = ["incident__number"]
    list_select_related = ["incident"]


# The deescalation and SLA helpers keep their admin modules beside this one.
from . import admin_deescalation, sla_admin  # noqa: E402, F401
