"""The deescalation plan, as incident managers, activity owners and the initiator see it."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from incidents.models import Escalation, TimelineEntry
from incidents.selectors_deescalation import activity_list_for_owner, plan_progress
from incidents.services.deescalation import (
    ActivityDraft,
    activity_add,
    activity_cancel,
    activity_complete,
    deescalation_confirm,
    plan_approve,
    plan_draft,
    plan_reorder,
    plan_return,
    plan_submit,
)
from incidents.services.errors import ActionRefused, IncidentChanged
from tests.factories import UserFactory

from .conftest import T0, report_and_escalate, told

S = Escalation.State


def _draft(case, actor, owner, *descriptions):
    soon = timezone.now() + timedelta(hours=2)
    return plan_draft(
        escalation=case, actor=actor, summary="Restore mail from the standby server",
        activities=[ActivityDraft(d, owner, soon) for d in descriptions],
    )  # fmt: skip


def test_full_plan_flow_from_draft_through_rework_to_confirmed_deescalation(
    escalated, initiator, manager_user, second_manager, support_user
):
    plan = _draft(escalated, manager_user, support_user, "Fail over", "Tell the users")
    plan_submit(escalation=escalated, actor=manager_user)

    case = plan_return(
        escalation=escalated, actor=second_manager, comment="Add a check that mail flows"
    )
    assert case.state == S.ESCALATED
    (returned,) = told(manager_user, "plan_returned")
    assert "Add a check that mail flows" in returned.body

    plan = _draft(case, manager_user, support_user, "Fail over", "Tell the users", "Check mail")
    first, second, third = plan.activities.all()
    plan_reorder(escalation=case, actor=manager_user, order=[first.pk, third.pk, second.pk])
    assert [a.description for a in plan.activities.all()] == [
        "Fail over", "Check mail", "Tell the users",
    ]  # fmt: skip

    plan_submit(escalation=case, actor=manager_user)
    case = plan_approve(escalation=case, actor=second_manager)
    assert case.state == S.DEESCALATING
    (approved,) = told(initiator, "plan_approved")
    assert "Restore mail from the standby server" in approved.body
    assert "Next update by" in approved.body

    with pytest.raises(ActionRefused, match="short note"):
        activity_complete(activity=first, actor=support_user, note="  ")
    activity_complete(activity=first, actor=support_user, note="Standby took over at 13:05")
    activity_complete(activity=third, actor=support_user, note="Users told")

    with pytest.raises(ActionRefused, match="Every deescalation activity must be done"):
        deescalation_confirm(escalation=case, actor=manager_user, note="Mail flows")
    assert Escalation.objects.get(pk=case.pk).state == S.DEESCALATING

    activity_complete(activity=second, actor=support_user, note="Test mail arrived")
    case = deescalation_confirm(escalation=case, actor=manager_user, note="Mail flows again")
    assert case.state == S.DEESCALATED
    (done,) = told(initiator, "deescalated")
    assert "Mail flows again" in done.body


def test_adding_and_cancelling_activities_during_implementation_tell_the_initiator(
    deescalating, initiator, manager_user, support_user, operations_user
):
    case = deescalating
    added = activity_add(
        escalation=case, actor=manager_user,
        activity=ActivityDraft("Replay queued mail", operations_user,
                               timezone.now() + timedelta(hours=3)),
    )  # fmt: skip
    assert told(operations_user, "activity_assigned")
    original = case.plan.activities.get(description="Fail over")
    activity_cancel(activity=original, actor=manager_user, reason="The primary came back")

    changes = told(initiator, "plan_changed")
    assert len(changes) == 2
    public = list(case.incident.timeline.filter(public=True, kind="activity").values_list(
        "note", flat=True))  # fmt: skip
    assert any("Replay queued mail" in note for note in public)
    assert any("The primary came back" in note for note in public)

    with pytest.raises(ActionRefused, match="Every deescalation activity"):
        deescalation_confirm(escalation=case, actor=manager_user, note="Done")
    activity_complete(activity=added, actor=operations_user, note="Replayed 1,204 messages")
    case = deescalation_confirm(escalation=case, actor=manager_user, note="Done")
    assert case.state == S.DEESCALATED


def test_cancelling_needs_a_reason(deescalating, manager_user):
    activity = deescalating.plan.activities.get()
    with pytest.raises(ActionRefused, match="no longer needed"):
        activity_cancel(activity=activity, actor=manager_user, reason="")


def test_a_draft_change_is_not_announced_to_the_initiator(
    escalated, initiator, manager_user, support_user
):
    plan = _draft(escalated, manager_user, support_user, "Fail over", "Spare step")
    activity_cancel(activity=plan.activities.last(), actor=manager_user, reason="Not needed")
    assert told(initiator, "plan_changed") == []


def test_four_eyes_refuses_the_author_as_approver(
    settings, escalated, manager_user, second_manager, support_user
):
    settings.PORTAL = {**settings.PORTAL, "PLAN_FOUR_EYES": True}
    _draft(escalated, manager_user, support_user, "Fail over")
    plan_submit(escalation=escalated, actor=manager_user)

    with pytest.raises(PermissionDenied):
        plan_approve(escalation=escalated, actor=manager_user)
    with pytest.raises(PermissionDenied):
        plan_return(escalation=escalated, actor=manager_user, comment="Self-review")
    assert plan_approve(escalation=escalated, actor=second_manager).state == S.DEESCALATING


def test_without_four_eyes_the_author_may_approve(settings, escalated, manager_user, support_user):
    settings.PORTAL = {**settings.PORTAL, "PLAN_FOUR_EYES": False}
    _draft(escalated, manager_user, support_user, "Fail over")
    plan_submit(escalation=escalated, actor=manager_user)
    assert plan_approve(escalation=escalated, actor=manager_user).state == S.DEESCALATING


def test_reordering_with_a_stale_list_is_refused(escalated, manager_user, support_user):
    plan = _draft(escalated, manager_user, support_user, "One", "Two")
    first = plan.activities.first()
    with pytest.raises(IncidentChanged):
        plan_reorder(escalation=escalated, actor=manager_user, order=[first.pk])


@time_machine.travel(T0 + timedelta(minutes=30), tick=False)
def test_my_activities_lists_overdue_first_across_incidents(
    deescalating, other_initiator, manager_user, second_manager, support_user, service
):
    # "Fail over" (the fixture's) is due at T0 + 1 h: not overdue yet.
    other_case = report_and_escalate(
        initiator=other_initiator, support_user=support_user, service=service
    )
    plan_draft(
        escalation=other_case, actor=manager_user, summary="Replace the disk",
        activities=[ActivityDraft("Replace disk", support_user,
                                  timezone.now() - timedelta(minutes=5))],
    )  # fmt: skip
    plan_submit(escalation=other_case, actor=manager_user)
    plan_approve(escalation=other_case, actor=second_manager)
    UserFactory(username="nobody")

    mine = list(activity_list_for_owner(user=support_user))
    assert [a.description for a in mine] == ["Replace disk", "Fail over"]
    assert mine[0].overdue and mine[0].plan.escalation.incident == other_case.incident
    progress = plan_progress(escalation=other_case)
    assert (progress.finished, progress.total, progress.overdue) == (0, 1, 1)


def test_the_timeline_counts_the_plan_s_activities_in_words(escalated, manager_user, support_user):
    _draft(escalated, manager_user, support_user, "Fail over")
    _draft(escalated, manager_user, support_user, "Fail over", "Tell the users")
    notes = list(
        TimelineEntry.objects.filter(escalation=escalated, kind="plan")
        .order_by("pk")
        .values_list("note", flat=True)
    )
    assert notes == [
        "Deescalation plan drafted with 1 activity.",
        "Deescalation plan drafted with 2 activities.",
    ]
