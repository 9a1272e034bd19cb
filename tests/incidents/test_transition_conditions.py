"""Each transition condition on its own, with the sentence the user is shown."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django_fsm import has_transition_perm

from incidents.models import DeescalationActivity, DeescalationPlan, Escalation, Incident
from incidents.services.deescalation import (
    ActivityDraft,
    activity_cancel,
    activity_complete,
    deescalation_confirm,
    plan_approve,
    plan_draft,
    plan_submit,
)
from incidents.services.errors import ActionRefused
from incidents.services.escalations import (
    escalation_classify_major,
    escalation_escalate,
    escalation_record_prevention,
    escalation_request,
)
from incidents.services.incidents import incident_resolve
from incidents.services.operations import (
    major_acknowledge,
    major_escalate_further,
    major_hand_over,
    major_log_action,
)
from tests.factories import UserFactory

from .states import escalation_in

S = Escalation.State


def _refused(call, message: str) -> None:
    with pytest.raises(ActionRefused) as refusal:
        call()
    assert refusal.value.message == message


# --- a plan needs an activity ----------------------------------------------------------------


def test_a_plan_without_activities_cannot_be_submitted(cast):
    case = escalation_in(S.REQUESTED, cast)
    case = escalation_escalate(escalation=case, actor=cast.support, reason="Close to breach")
    DeescalationPlan.objects.create(escalation=case, author=cast.manager, summary="Fail over")
    case = Escalation.objects.get(pk=case.pk)
    assert not has_transition_perm(case.submit_plan, cast.manager)

    _refused(
        lambda: plan_submit(escalation=case, actor=cast.manager),
        "The deescalation plan needs at least one activity.",
    )
    assert Escalation.objects.get(pk=case.pk).state == S.ESCALATED


def test_no_plan_at_all_cannot_be_submitted(cast):
    case = escalation_in(S.REQUESTED, cast)
    case = escalation_escalate(escalation=case, actor=cast.support, reason="Close to breach")
    _refused(
        lambda: plan_submit(escalation=case, actor=cast.manager),
        "The deescalation plan needs at least one activity.",
    )


def test_a_plan_cannot_be_drafted_without_activities(cast):
    case = escalation_in(S.REQUESTED, cast)
    case = escalation_escalate(escalation=case, actor=cast.support, reason="Close to breach")
    _refused(
        lambda: plan_draft(escalation=case, actor=cast.manager, summary="Later", activities=[]),
        "A deescalation plan needs at least one activity.",
    )
    assert not DeescalationPlan.objects.filter(escalation=case).exists()


def test_a_plan_with_an_activity_can_be_submitted(cast):
    case = escalation_in(S.ESCALATED, cast)  # drafted with one activity
    assert has_transition_perm(case.submit_plan, cast.manager)
    assert plan_submit(escalation=case, actor=cast.manager).state == S.PLAN_SUBMITTED


# --- confirming the deescalation needs every activity finished -------------------------------


def _deescalating_with_two_activities(cast) -> Escalation:
    case = escalation_in(S.REQUESTED, cast)
    case = escalation_escalate(escalation=case, actor=cast.support, reason="Close to breach")
    due = timezone.now() + timedelta(hours=2)
    plan_draft(
        escalation=case, actor=cast.second_manager, summary="Fail over, then verify",
        activities=[ActivityDraft("Fail over", cast.support, due),
                    ActivityDraft("Verify with users", cast.support, due)],
    )  # fmt: skip
    plan_submit(escalation=case, actor=cast.second_manager)
    return plan_approve(escalation=case, actor=cast.manager)


def test_confirm_is_refused_while_an_activity_is_open(cast):
    case = _deescalating_with_two_activities(cast)
    first, _second = case.plan.activities.all()
    activity_complete(activity=first, actor=cast.support, note="Failed over")
    case = Escalation.objects.get(pk=case.pk)
    assert not has_transition_perm(case.confirm_deescalation, cast.manager)

    _refused(
        lambda: deescalation_confirm(escalation=case, actor=cast.manager, note="All good"),
        "Every deescalation activity must be done or cancelled first.",
    )
    assert Escalation.objects.get(pk=case.pk).state == S.DEESCALATING


def test_confirm_is_allowed_when_every_activity_is_done_or_cancelled(cast):
    case = _deescalating_with_two_activities(cast)
    first, second = case.plan.activities.all()
    activity_complete(activity=first, actor=cast.support, note="Failed over")
    activity_cancel(activity=second, actor=cast.manager, reason="Users confirmed themselves")
    case = Escalation.objects.get(pk=case.pk)
    assert has_transition_perm(case.confirm_deescalation, cast.manager)

    case = deescalation_confirm(escalation=case, actor=cast.manager, note="Mail flows")
    assert case.state == S.DEESCALATED
    assert set(case.plan.activities.values_list("status", flat=True)) == {"done", "cancelled"}


def test_only_the_owner_or_a_manager_completes_an_activity(cast):
    case = _deescalating_with_two_activities(cast)
    activity = case.plan.activities.first()
    colleague = UserFactory(username="sue", roles=["First-level support"])
    assert not has_transition_perm(activity.complete, colleague)
    with pytest.raises(PermissionDenied):
        activity_complete(activity=activity, actor=colleague, note="Done")
    activity.refresh_from_db()
    assert activity.status == DeescalationActivity.Status.OPEN


def test_four_eyes_the_author_may_not_approve_their_own_plan(cast, settings):
    settings.PORTAL = {**settings.PORTAL, "PLAN_FOUR_EYES": True}
    case = escalation_in(S.PLAN_SUBMITTED, cast)  # drafted by second_manager
    assert not has_transition_perm(case.approve_plan, cast.second_manager)
    with pytest.raises(PermissionDenied):
        plan_approve(escalation=case, actor=cast.second_manager)
    assert plan_approve(escalation=case, actor=cast.manager).state == S.DEESCALATING


# --- IT operations acknowledge first ----------------------------------------------------------


@pytest.mark.parametrize(
    "act",
    [
        lambda case, u: major_escalate_further(
            escalation=case, actor=u, stakeholders="CIO", note="Mail down"
        ),
        lambda case, u: major_log_action(escalation=case, actor=u, note="Rerouted"),
        lambda case, u: major_hand_over(escalation=case, actor=u, note="Stable"),
    ],
    ids=["escalate_further", "log_action", "hand_over"],
)
def test_it_operations_must_acknowledge_first(cast, act):
    case = escalation_in(S.MAJOR, cast, for_transition="acknowledge")  # not acknowledged
    _refused(
        lambda: act(case, cast.operations),
        "IT operations must acknowledge the major incident first.",
    )
    major_acknowledge(escalation=case, actor=cast.operations)
    after = act(case, cast.operations)
    assert after.state in (S.MAJOR, S.ESCALATED)


def test_a_major_incident_is_acknowledged_once(cast):
    case = escalation_in(S.MAJOR, cast)  # acknowledged
    _refused(
        lambda: major_acknowledge(escalation=case, actor=cast.operations),
        "IT operations have already acknowledged this major incident.",
    )


def test_escalating_further_raises_the_level(cast):
    case = escalation_in(S.MAJOR, cast)
    before = case.level
    case = major_escalate_further(
        escalation=case, actor=cast.operations, stakeholders="CIO", note="Mail down"
    )
    assert case.level == before + 1


def test_reclassifying_as_major_asks_for_a_new_acknowledgement(cast):
    case = escalation_in(S.MAJOR, cast)
    case = major_hand_over(escalation=case, actor=cast.operations, note="Stable")
    case = escalation_classify_major(
        incident=case.incident, actor=cast.manager, reason="Down again"
    )
    _refused(
        lambda: major_log_action(escalation=case, actor=cast.operations, note="Rerouted"),
        "IT operations must acknowledge the major incident first.",
    )


# --- the incident must be open ----------------------------------------------------------------


def test_escalate_is_refused_when_the_incident_is_resolved(cast):
    case = escalation_in(S.REQUESTED, cast)
    # Set-up, not a process step: resolving through the service would avoid the case.
    Incident.objects.filter(pk=case.incident_id).update(status=Incident.Status.RESOLVED)
    case = Escalation.objects.get(pk=case.pk)
    assert not has_transition_perm(case.escalate, cast.support)

    _refused(
        lambda: escalation_escalate(escalation=case, actor=cast.support, reason="Breach"),
        "The incident is no longer open.",
    )
    assert Escalation.objects.get(pk=case.pk).state == S.REQUESTED


def test_prevention_is_refused_when_the_incident_is_no_longer_open(cast):
    case = escalation_in(S.IMMINENT, cast)
    Incident.objects.filter(pk=case.incident_id).update(status=Incident.Status.CLOSED)
    case = Escalation.objects.get(pk=case.pk)
    _refused(
        lambda: escalation_record_prevention(
            escalation=case, actor=cast.support, kind="note", note="Restarted"
        ),
        "The incident is no longer open.",
    )


def test_an_escalated_incident_that_was_resolved_cannot_become_major(cast):
    case = escalation_in(S.ESCALATED, cast)
    incident_resolve(incident=case.incident, actor=cast.support, note="Relay restarted")
    assert Escalation.objects.get(pk=case.pk).state == S.ESCALATED  # deescalation goes on
    _refused(
        lambda: escalation_classify_major(incident=case.incident, actor=cast.manager, reason="x"),
        "The incident is no longer open.",
    )


def test_asking_for_an_escalation_of_a_closed_incident_says_to_reopen(cast):
    case = escalation_in(S.REJECTED, cast)
    Incident.objects.filter(pk=case.incident_id).update(status=Incident.Status.RESOLVED)
    _refused(
        lambda: escalation_request(incident=case.incident, actor=cast.initiator, reason="Again"),
        "The incident is no longer open. Reopen it if the problem is back.",
    )
