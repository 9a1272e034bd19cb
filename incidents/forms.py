"""The staff action forms and ACTIONS, the one registry of what a staff page can post.

Each action names its form (exactly the fields the action needs) and the service it calls.
Which actions a page offers is not decided here: for transitions it is what django_fsm
reports available to the user now (`available_actions`); the registry only says how to
ask for and run each of them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from incidents.models import ACTIVE_STATES, Escalation, Incident, PreventionAction, SupportGroup
from incidents.people import person_name
from incidents.roles import perm
from incidents.selectors import staff_users
from incidents.services import deescalation, escalations, incidents, operations

S = Escalation.State


def _text(label: str, help_text: str = "", *, required: bool = True, rows: int = 3):
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=required,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class ActionForm(forms.Form):
    """Every action carries what the user saw, so a stale click is caught, not applied."""

    seen_state = forms.CharField(widget=forms.HiddenInput, required=False)
    seen_case = forms.CharField(widget=forms.HiddenInput, required=False)


class ConfirmForm(ActionForm):
    """Actions that need nothing but the click."""


class ReasonForm(ActionForm):
    reason = _text("Reason")


class NoteForm(ActionForm):
    note = _text("Note")


class OptionalNoteForm(ActionForm):
    note = _text("Note", "Optional.", required=False, rows=2)


class PutOnHoldForm(ActionForm):
    reason = _text("What are you waiting for from the caller?", "The SLA clock pauses.")


class ResolveForm(ActionForm):
    note = _text("How was it resolved?", "The initiator reads this.")


class ReopenForm(ActionForm):
    reason = _text("Why is it not resolved?")


class CancelIncidentForm(ActionForm):
    reason = _text("Why is the incident cancelled?", "The initiator reads this.")


class RequestEscalationForm(ActionForm):
    reason = _text("Why should this incident be escalated?")


class FlagImminentForm(ActionForm):
    reason = _text("Why is an escalation imminent?", "Visible to support staff only.")


class PreventionForm(ActionForm):
    kind = forms.ChoiceField(label="What did you do?", choices=PreventionAction.Kind.choices)
    note = _text("Details")


class AvoidForm(ActionForm):
    reason = _text("What was done to avoid the escalation?", "The initiator reads this.")


class RejectForm(ActionForm):
    reason = _text(
        "Why is the escalation not entitled?", "Required. The initiator reads this reason."
    )


class EscalateForm(ActionForm):
    reason = _text(
        "Why is the escalation entitled?",
        "The procedure for the incident's priority is applied (functional / hierarchical).",
    )


class ClassifyMajorForm(ActionForm):
    reason = _text(
        "Why is this a major incident?", "IT operations and incident managers are alerted."
    )


class EscalateFurtherForm(ActionForm):
    stakeholders = forms.CharField(
        label="Escalated to", help_text="Management, stakeholders: who was told.", max_length=500
    )
    note = _text("What were they told?")


class LogActionForm(ActionForm):
    note = _text("Action taken")


class HandOverForm(ActionForm):
    note = _text("The state you hand over in", "Incident managers plan the deescalation next.")


class ReturnPlanForm(ActionForm):
    comment = _text("What should be reworked?")


class ConfirmDeescalationForm(ActionForm):
    note = _text("Closing note for the initiator", "The initiator is told the escalation is over.")


class CancelEscalationForm(ActionForm):
    reason = _text(
        "Why is the escalation cancelled?",
        "Raised in error, duplicate... The initiator reads this.",
    )


class ProgressNoteForm(ActionForm):
    note = _text("Progress note", "Resets the stale clock.", rows=4)
    public = forms.BooleanField(
        label="Show this note to the initiator", required=False, initial=False
    )


class AssignForm(ActionForm):
    assignee = forms.ModelChoiceField(
        queryset=staff_users(), required=False, empty_label="Nobody (unassigned)"
    )
    group = forms.ModelChoiceField(
        label="Assignment group",
        queryset=SupportGroup.objects.all(),
        required=False,
        empty_label="Keep the current group",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Fresh querysets per form: the module-level ones would be cached across requests.
        self.fields["assignee"].queryset = staff_users()
        self.fields["assignee"].label_from_instance = person_name
        self.fields["group"].queryset = SupportGroup.objects.all()


class StatusUpdateForm(ActionForm):
    message = _text("Update for the initiator", "Public: what is being done and what comes next.")


# --- the registry -----------------------------------------------------------------


@dataclass(frozen=True)
class ActionCall:
    """What a service call gets: the objects as locked at the start and the clean input."""

    incident: Incident
    case: Escalation | None
    actor: Any
    data: dict[str, Any]
    seen_state: str | None


@dataclass(frozen=True)
class Action:
    slug: str
    label: str
    form: type[ActionForm]
    run: Callable[[ActionCall], Any]
    # Which machine's transition this is ("incident" / "escalation") and its name;
    # empty for actions that are not a transition (notes, assignment, opening a case).
    machine: str = ""
    transition: str = ""
    style: str = "outline-secondary"
    done: str = "Done."
    intro: str = ""


def _case(call: ActionCall) -> Escalation:
    assert call.case is not None  # the view only offers case actions when there is one
    return call.case


A = Action
ACTIONS: dict[str, Action] = {
    a.slug: a
    for a in [
        # --- incident lifecycle ----------------------------------------------------
        A("start_work", "Start work", ConfirmForm, machine="incident", transition="start_work",
          style="primary", done="Work started: the response SLA is met.",
          intro="You become the assignee if nobody is.",
          run=lambda c: incidents.incident_start_work(
              incident=c.incident, actor=c.actor, seen_state=c.seen_state)),
        A("put_on_hold", "Put on hold", PutOnHoldForm, machine="incident",
          transition="put_on_hold", done="On hold: the resolution clock is paused.",
          run=lambda c: incidents.incident_put_on_hold(
              incident=c.incident, actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state)),
        A("resume", "Resume work", OptionalNoteForm, machine="incident", transition="resume",
          style="primary", done="Work resumed: the resolution clock runs again.",
          run=lambda c: incidents.incident_resume(
              incident=c.incident, actor=c.actor, note=c.data["note"],
              seen_state=c.seen_state)),
        A("resolve", "Resolve", ResolveForm, machine="incident", transition="resolve",
          style="success", done="Resolved. The initiator is asked to confirm.",
          run=lambda c: incidents.incident_resolve(
              incident=c.incident, actor=c.actor, note=c.data["note"], seen_state=c.seen_state)),
        A("reopen", "Reopen", ReopenForm, machine="incident", transition="reopen",
          done="Reopened.",
          run=lambda c: incidents.incident_reopen(
              incident=c.incident, actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state)),
        A("close", "Close", OptionalNoteForm, machine="incident", transition="close",
          done="Closed.",
          run=lambda c: incidents.incident_close(
              incident=c.incident, actor=c.actor, note=c.data["note"], seen_state=c.seen_state)),
        A("cancel_incident", "Cancel incident", CancelIncidentForm, machine="incident",
          transition="cancel", style="outline-danger", done="The incident was cancelled.",
          run=lambda c: incidents.incident_cancel(
              incident=c.incident, actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state)),
        # --- opening or asking for an escalation -----------------------------------
        A("flag_imminent", "Flag imminent escalation", FlagImminentForm, style="outline-dark",
          done="Flagged as an imminent escalation. Record what you do to prevent it.",
          run=lambda c: escalations.escalation_flag_imminent(
              incident=c.incident, actor=c.actor, reason=c.data["reason"])),
        A("request_escalation", "Request escalation", RequestEscalationForm,
          machine="escalation", transition="request", style="outline-dark",
          done="Escalation requested: it waits for the entitlement check.",
          run=lambda c: escalations.escalation_request(
              incident=c.incident, actor=c.actor, reason=c.data["reason"])),
        # --- imminent and the entitlement check ------------------------------------
        A("record_prevention", "Record prevention", PreventionForm, machine="escalation",
          transition="record_prevention", style="outline-primary",
          done="Prevention action recorded.",
          run=lambda c: escalations.escalation_record_prevention(
              escalation=_case(c), actor=c.actor, kind=c.data["kind"], note=c.data["note"],
              seen_state=c.seen_state)),
        A("escalate", "Escalate", EscalateForm, machine="escalation", transition="escalate",
          style="danger", done="Escalated according to the procedure. The initiator is told.",
          run=lambda c: escalations.escalation_escalate(
              escalation=_case(c), actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state)),
        A("reject", "Reject", RejectForm, machine="escalation", transition="reject",
          style="outline-secondary", done="Rejected. The initiator is told why.",
          run=lambda c: escalations.escalation_reject(
              escalation=_case(c), actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state)),
        A("avoid", "Avoided", AvoidForm, machine="escalation", transition="avoid",
          style="outline-success", done="Marked as avoided. The initiator is told what was done.",
          run=lambda c: escalations.escalation_avoid(
              escalation=_case(c), actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state)),
        A("classify_major", "Classify as major", ClassifyMajorForm, machine="escalation",
          transition="classify_major", style="outline-danger",
          done="Classified as a major incident. IT operations are alerted.",
          run=lambda c: escalations.escalation_classify_major(
              incident=c.incident, actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state if c.case else None)),
        # --- major incidents (IT operations) ---------------------------------------
        A("acknowledge", "Acknowledge", OptionalNoteForm, machine="escalation",
          transition="acknowledge", style="primary", done="Acknowledged: IT operations own it.",
          run=lambda c: operations.major_acknowledge(
              escalation=_case(c), actor=c.actor, note=c.data["note"],
              seen_state=c.seen_state)),
        A("escalate_further", "Escalate further", EscalateFurtherForm, machine="escalation",
          transition="escalate_further", style="outline-danger", done="Escalated further.",
          run=lambda c: operations.major_escalate_further(
              escalation=_case(c), actor=c.actor, stakeholders=c.data["stakeholders"],
              note=c.data["note"], seen_state=c.seen_state)),
        A("log_action", "Log action", LogActionForm, machine="escalation",
          transition="log_action", style="outline-primary", done="Action logged.",
          run=lambda c: operations.major_log_action(
              escalation=_case(c), actor=c.actor, note=c.data["note"],
              seen_state=c.seen_state)),
        A("hand_over", "Hand over for deescalation", HandOverForm, machine="escalation",
          transition="hand_over", style="outline-success",
          done="Handed over: incident managers plan the deescalation.",
          run=lambda c: operations.major_hand_over(
              escalation=_case(c), actor=c.actor, note=c.data["note"],
              seen_state=c.seen_state)),
        # --- deescalation (incident managers) --------------------------------------
        A("submit_plan", "Submit plan", ConfirmForm, machine="escalation",
          transition="submit_plan", style="primary", done="Plan submitted for approval.",
          intro="The plan goes to an incident manager for approval.",
          run=lambda c: deescalation.plan_submit(
              escalation=_case(c), actor=c.actor, seen_state=c.seen_state)),
        A("approve_plan", "Approve plan", ConfirmForm, machine="escalation",
          transition="approve_plan", style="success",
          done="Plan approved: deescalation is under way. The initiator is told.",
          intro="The activities start and their owners are told.",
          run=lambda c: deescalation.plan_approve(
              escalation=_case(c), actor=c.actor, seen_state=c.seen_state)),
        A("return_plan", "Return for rework", ReturnPlanForm, machine="escalation",
          transition="return_plan", done="Plan returned for rework.",
          run=lambda c: deescalation.plan_return(
              escalation=_case(c), actor=c.actor, comment=c.data["comment"],
              seen_state=c.seen_state)),
        A("confirm_deescalation", "Confirm deescalation", ConfirmDeescalationForm,
          machine="escalation", transition="confirm_deescalation", style="success",
          done="Deescalation confirmed. The initiator is told.",
          run=lambda c: deescalation.deescalation_confirm(
              escalation=_case(c), actor=c.actor, note=c.data["note"],
              seen_state=c.seen_state)),
        A("cancel_escalation", "Cancel escalation", CancelEscalationForm, machine="escalation",
          transition="cancel", style="outline-danger", done="Escalation cancelled.",
          run=lambda c: escalations.escalation_cancel(
              escalation=_case(c), actor=c.actor, reason=c.data["reason"],
              seen_state=c.seen_state)),
        # --- working the incident ---------------------------------------------------
        A("progress_note", "Add progress note", ProgressNoteForm, style="outline-primary",
          done="Progress note added.",
          run=lambda c: incidents.incident_add_progress_note(
              incident=c.incident, actor=c.actor, note=c.data["note"],
              public=c.data["public"])),
        A("assign", "Assign", AssignForm, done="Assignment changed.",
          run=lambda c: incidents.incident_assign(
              incident=c.incident, actor=c.actor, assignee=c.data["assignee"],
              group=c.data["group"])),
        A("status_update", "Post status update", StatusUpdateForm, style="outline-primary",
          done="Status update sent to the initiator.",
          run=lambda c: deescalation.status_update_post(
              incident=c.incident, actor=c.actor, message=c.data["message"])),
    ]
}  # fmt: skip
del A

# transition name -> slug, per machine: how django_fsm's answer becomes buttons.
BY_TRANSITION = {(a.machine, a.transition): a.slug for a in ACTIONS.values() if a.transition}
UPDATES_FROM = {S.ESCALATED, S.MAJOR, S.PLAN_SUBMITTED, S.DEESCALATING}


def available_actions(*, incident: Incident, case: Escalation | None, user: Any) -> list[Action]:
    """The actions this user may take on this incident now, in registry order.

    Transitions come from django_fsm; the few non-transition actions follow the same
    rules their services enforce, so a button is never offered only to be refused.
    """
    slugs = {
        BY_TRANSITION[("incident", t.name)]
        for t in incident.get_available_user_status_transitions(user)
        if ("incident", t.name) in BY_TRANSITION
    }
    if case is not None and case.state in ACTIVE_STATES:
        slugs |= {
            BY_TRANSITION[("escalation", t.name)]
            for t in case.get_available_user_state_transitions(user)
            if ("escalation", t.name) in BY_TRANSITION
        }
    if incident.is_open:
        if user.has_perm(perm("work_incident")):
            slugs |= {"progress_note", "assign"}
        if case is None:
            if user.has_perm(perm("prevent_escalation")):
                slugs.add("flag_imminent")
            if user.has_perm(perm("classify_major")):
                slugs.add("classify_major")
            if escalations.escalation_request_blocker(incident=incident, user=user) is None:
                slugs.add("request_escalation")
        elif case.state in UPDATES_FROM and (
            user.has_perm(perm("manage_deescalation")) or user.has_perm(perm("operate_major"))
        ):
            slugs.add("status_update")
    return [action for slug, action in ACTIONS.items() if slug in slugs]


def action_form(
    action: Action, *, incident: Incident, case: Escalation | None, data: Any = None
) -> ActionForm:
    """The form for `action`, prefixed so many can live on one page, carrying what was seen."""
    seen = case.state if action.machine == "escalation" and case else incident.status
    return action.form(
        data,
        prefix=action.slug,
        initial={
            "seen_state": seen,
            "seen_case": case.pk if case else "",
            # Assign opens on who holds it now: submitting it unchanged must not unassign.
            "assignee": incident.assignee_id,
        },
    )
