"""The incident manager board, the deescalation workspace, the plan editor, my activities."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.models import DeescalationActivity, DeescalationPlan, Escalation, TimelineEntry
from incidents.services.deescalation import activity_complete
from tests.e2e.process import deescalating, drafted, escalated, major, reported, submitted

pytestmark = pytest.mark.django_db
S = Escalation.State


@pytest.fixture
def case(initiator, support_user, service):
    incident = reported(initiator=initiator, service=service, support=support_user)
    return escalated(incident=incident, initiator=initiator, support=support_user)


@pytest.fixture
def mia(client, manager_user):
    client.force_login(manager_user)
    return client


def act(case, action):
    return reverse("manager-action", args=[case.incident.number, action])


def workspace(case):
    return reverse("manager-incident", args=[case.incident.number])


def plan_post(owner, *, summary="Fail over", rows=None, submit=False, seen_revision=0):
    rows = rows if rows is not None else [("Switch to standby", owner.pk, _due())]
    data = {
        "summary": summary,
        "seen_revision": seen_revision,
        "activities-TOTAL_FORMS": str(len(rows)),
        "activities-INITIAL_FORMS": "0",
        "activities-MIN_NUM_FORMS": "1",
        "activities-MAX_NUM_FORMS": "30",
    }
    for n, (description, owner_pk, due) in enumerate(rows):
        data |= {
            f"activities-{n}-description": description,
            f"activities-{n}-owner": owner_pk,
            f"activities-{n}-due_at": due,
        }
    if submit:
        data["submit"] = "1"
    return data


def _due(hours=3):
    return (timezone.localtime() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


# --- permissions ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["initiator", "support_user", "operations_user"])
def test_manager_pages_are_for_incident_managers_only(client, request, case, who):
    client.force_login(request.getfixturevalue(who))
    number = case.incident.number
    assert client.get(reverse("manager-board")).status_code == 403
    assert client.get(reverse("manager-incident", args=[number])).status_code == 403
    assert client.get(reverse("plan-edit", args=[number])).status_code == 403
    assert (
        client.post(act(case, "status_update"), {"status_update-message": "x"}).status_code == 403
    )
    assert not TimelineEntry.objects.filter(kind="status_update").exists()


def test_manager_pages_need_a_login(client, case):
    response = client.get(reverse("manager-board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_my_activities_is_for_staff(client, initiator, support_user):
    client.force_login(initiator)
    assert client.get(reverse("my-activities")).status_code == 403
    client.force_login(support_user)
    assert client.get(reverse("my-activities")).status_code == 200


def test_an_incident_never_escalated_has_no_workspace(mia, initiator, service):
    incident = reported(initiator=initiator, service=service)
    assert mia.get(reverse("manager-incident", args=[incident.number])).status_code == 404
    assert mia.get(reverse("plan-edit", args=["INC0009999"])).status_code == 404


# --- the board ------------------------------------------------------------------------


def test_the_board_sorts_cases_into_their_sections(
    mia, initiator, support_user, manager_user, service
):
    def case_titled(title):
        incident = reported(initiator=initiator, service=service, support=support_user, title=title)
        return escalated(incident=incident, initiator=initiator, support=support_user)

    case_titled("Needs a plan")
    submitted(case=case_titled("Plan in review"), manager=manager_user, owner=support_user)
    running = deescalating(
        case=case_titled("Plan running"), manager=manager_user, owner=support_user, activities=2
    )
    major(
        incident=reported(initiator=initiator, service=service, title="Site down"),
        support=support_user,
    )
    first = running.plan.activities.first()
    activity_complete(activity=first, actor=support_user, note="Done")
    DeescalationActivity.objects.exclude(pk=first.pk).update(
        due_at=timezone.now() - timedelta(hours=1)
    )

    html = mia.get(reverse("manager-board")).content.decode()
    sections = {
        key: html.split(f'id="{key}"')[1].split("</section>")[0]
        for key in ("waiting_for_plan", "waiting_for_approval", "deescalating", "major")
    }
    assert "Needs a plan" in sections["waiting_for_plan"]
    assert "Draft plan" in sections["waiting_for_plan"]
    assert "Plan in review" in sections["waiting_for_approval"]
    assert "Plan running" in sections["deescalating"]
    assert "1 / 2 done" in sections["deescalating"]
    assert "1 overdue" in sections["deescalating"]
    assert "Site down" in sections["major"]
    assert "No update yet" in sections["waiting_for_plan"]


@pytest.mark.parametrize("count", [10, 200])
def test_the_board_runs_a_fixed_number_of_queries(
    client, initiator, support_user, manager_user, service, django_assert_max_num_queries, count
):
    for n in range(count):
        incident = reported(
            initiator=initiator, service=service, support=support_user, title=f"Incident {n}"
        )
        if n % 4 == 0:
            case = escalated(incident=incident, initiator=initiator, support=support_user)
            if n % 8 == 0:
                deescalating(case=case, manager=manager_user, owner=support_user, activities=2)
        elif n % 4 == 1 and n < 40:
            major(incident=incident, support=support_user)
    client.force_login(manager_user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("manager-board"))
    assert response.status_code == 200


# --- the plan -------------------------------------------------------------------------


def test_drafting_a_plan_through_the_form(mia, case, support_user, manager_user):
    form = mia.get(reverse("plan-edit", args=[case.incident.number])).content.decode()
    assert "Summary for the initiator" in form
    assert "Sam" in form  # staff are offered as owners
    response = mia.post(reverse("plan-edit", args=[case.incident.number]), plan_post(support_user))
    assert response.status_code == 302
    plan = DeescalationPlan.objects.get(escalation=case)
    assert plan.activities.get().owner == support_user
    case.refresh_from_db()
    assert case.state == S.ESCALATED
    html = mia.get(workspace(case)).content.decode()
    assert "Submit plan for approval" in html


def test_save_and_submit_in_one_go(mia, case, support_user):
    mia.post(
        reverse("plan-edit", args=[case.incident.number]), plan_post(support_user, submit=True)
    )
    case.refresh_from_db()
    assert case.state == S.PLAN_SUBMITTED


@pytest.mark.parametrize(
    "bad",
    [
        {"summary": "  "},
        {"rows": [("", "OWNER", _due())]},
        {"rows": [("Step", "", _due())]},
        {"rows": [("Step", "OWNER", "")]},
        {"rows": [("Step", "OWNER", "tomorrow-ish")]},
        {"rows": [("Step", "OWNER", _due(hours=-3))]},
        {"rows": [("Step", "OWNER", "9999-12-31T23:59")]},  # shown without its year
        {"rows": [("Step", "NOT_STAFF", _due())]},
        {"rows": []},
    ],
)
def test_a_bad_plan_shows_errors_and_saves_nothing(mia, case, support_user, initiator, bad):
    rows = bad.get("rows")
    if rows is not None:
        swap = {"OWNER": support_user.pk, "NOT_STAFF": initiator.pk}
        rows = [(d, swap.get(o, o), due) for d, o, due in rows]
    data = plan_post(support_user, summary=bad.get("summary", "Fail over"), rows=rows)
    response = mia.post(reverse("plan-edit", args=[case.incident.number]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "invalid-feedback" in html or "alert-danger" in html
    assert not DeescalationPlan.objects.exists()


def test_the_plan_cannot_be_edited_once_submitted(mia, case, manager_user, support_user):
    submitted(case=case, manager=manager_user, owner=support_user)
    response = mia.get(reverse("plan-edit", args=[case.incident.number]))
    assert response.status_code == 302
    response = mia.post(
        reverse("plan-edit", args=[case.incident.number]), plan_post(support_user, summary="Sneaky")
    )
    assert DeescalationPlan.objects.get().summary != "Sneaky"


def test_approve_from_the_workspace(mia, case, manager_user, support_user):
    submitted(case=case, manager=manager_user, owner=support_user)
    html = mia.get(workspace(case)).content.decode()
    assert "Approve plan" in html and "Return for rework" in html
    response = mia.post(act(case, "approve_plan"), {"seen_state": "plan_submitted"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == S.DEESCALATING


def test_return_needs_a_comment_and_then_goes_back_to_the_author(
    mia, case, manager_user, support_user
):
    submitted(case=case, manager=manager_user, owner=support_user)
    response = mia.post(act(case, "return_plan"), {"return_plan-comment": " "})
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.state == S.PLAN_SUBMITTED
    mia.post(act(case, "return_plan"), {"return_plan-comment": "Add a rollback step"})
    case.refresh_from_db()
    assert case.state == S.ESCALATED
    assert "Add a rollback step" in mia.get(workspace(case)).content.decode()


def test_a_second_approval_says_the_incident_changed(mia, case, manager_user, support_user):
    submitted(case=case, manager=manager_user, owner=support_user)
    mia.post(act(case, "approve_plan"), {"seen_state": "plan_submitted"})
    response = mia.post(act(case, "approve_plan"), {"seen_state": "plan_submitted"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "This incident changed while you were looking" in html
    assert "Being deescalated" in html


def test_submit_without_activities_is_not_offered(mia, case):
    assert "Submit plan for approval" not in mia.get(workspace(case)).content.decode()
    response = mia.post(act(case, "submit_plan"), {"seen_state": "escalated"})
    assert response.status_code == 409
    assert "at least one activity" in response.content.decode()


def test_an_unknown_action_is_a_404(mia, case):
    assert mia.post(act(case, "explode")).status_code == 404
    assert mia.get(act(case, "approve_plan")).status_code == 405


# --- status updates and confirmation ------------------------------------------------------


def test_a_status_update_reaches_the_initiators_status_page(mia, client, case, initiator):
    response = mia.post(act(case, "status_update"), {"status_update-message": "Back by 15:00"})
    assert response.status_code == 302
    board = mia.get(reverse("manager-board")).content.decode()
    assert "No update yet" not in board.split('id="waiting_for_plan"')[1].split("</section>")[0]
    client.force_login(initiator)
    page = client.get(reverse("my-incident", args=[case.incident.number])).content.decode()
    assert "Back by 15:00" in page


def test_a_blank_status_update_is_an_inline_error(mia, case):
    response = mia.post(act(case, "status_update"), {"status_update-message": ""})
    assert response.status_code == 400
    assert "is-invalid" in response.content.decode()
    assert not TimelineEntry.objects.filter(kind="status_update").exists()


def test_confirming_waits_for_every_activity(mia, case, manager_user, support_user):
    case = deescalating(case=case, manager=manager_user, owner=support_user)
    html = mia.get(workspace(case)).content.decode()
    blockers = html.split('id="confirm-blockers"')[1].split("</div>")[0]
    assert "Deescalation cannot be confirmed yet" in blockers
    assert blockers.count("done or cancelled") == 1  # said once, not twice
    response = mia.post(
        act(case, "confirm_deescalation"), {"confirm_deescalation-note": "All good"}
    )
    assert response.status_code == 409
    assert "Every deescalation activity must be done" in response.content.decode()

    activity = case.plan.activities.get()
    mia.post(
        reverse("activity-complete", args=[activity.pk]),
        {"complete-note": "Failed over", "back": "workspace"},
    )
    assert (
        mia.post(act(case, "confirm_deescalation"), {"confirm_deescalation-note": ""}).status_code
        == 400
    )
    mia.post(act(case, "confirm_deescalation"), {"confirm_deescalation-note": "Mail flows"})
    case.refresh_from_db()
    assert case.state == S.DEESCALATED


# --- my activities ------------------------------------------------------------------------


def test_the_owner_completes_an_activity_with_a_note(client, case, manager_user, support_user):
    case = deescalating(case=case, manager=manager_user, owner=support_user)
    activity = case.plan.activities.get()
    client.force_login(support_user)
    assert "Step 1" in client.get(reverse("my-activities")).content.decode()
    response = client.post(reverse("activity-complete", args=[activity.pk]), {"complete-note": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "is-invalid" in html and "This field is required." in html
    assert DeescalationActivity.objects.get(pk=activity.pk).status == "open"
    client.post(reverse("activity-complete", args=[activity.pk]), {"complete-note": "Done"})
    assert DeescalationActivity.objects.get(pk=activity.pk).status == "done"
    again = client.post(reverse("activity-complete", args=[activity.pk]), {"complete-note": "x"})
    assert again.status_code == 409


def test_someone_else_may_not_complete_my_activity(
    client, case, manager_user, support_user, operations_user
):
    case = deescalating(case=case, manager=manager_user, owner=support_user)
    activity = case.plan.activities.get()
    client.force_login(operations_user)
    response = client.post(
        reverse("activity-complete", args=[activity.pk]), {"complete-note": "Mine now"}
    )
    assert response.status_code == 403
    assert DeescalationActivity.objects.get(pk=activity.pk).status == "open"


def test_activities_of_an_unapproved_plan_are_not_listed_yet(
    client, case, manager_user, support_user
):
    drafted(case=case, manager=manager_user, owner=support_user)
    client.force_login(support_user)
    assert "Step 1" not in client.get(reverse("my-activities")).content.decode()


def test_the_board_shows_when_the_next_promised_update_is_due(mia, case):
    from incidents.models import SLAPolicy, UpdateCadence

    UpdateCadence.objects.update_or_create(
        priority=case.incident.priority, defaults={"interval_minutes": 30}
    )
    # Promises at any hour (no office hours to wait for), so this holds whenever it runs.
    SLAPolicy.objects.filter(priority=case.incident.priority).update(reminder_calendar=None)
    Escalation.objects.filter(pk=case.pk).update(escalated_at=timezone.now() - timedelta(hours=1))
    section = lambda html: html.split('id="waiting_for_plan"')[1].split("</section>")[0]  # noqa: E731
    assert "Overdue since" in section(mia.get(reverse("manager-board")).content.decode())
    mia.post(act(case, "status_update"), {"status_update-message": "Working on it"})
    html = section(mia.get(reverse("manager-board")).content.decode())
    assert "Overdue since" not in html
    due = timezone.localtime(timezone.now() + timedelta(minutes=30))
    assert f"Due {due:%H:%M}" in html or f"Due {due - timedelta(minutes=1):%H:%M}" in html
    assert "· in 29 min" in html or "· in 30 min" in html


def test_a_plan_without_activities_asks_for_one_in_plain_words(mia, case, support_user):
    response = mia.post(
        reverse("plan-edit", args=[case.incident.number]), plan_post(support_user, rows=[])
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Add at least one activity: what will be done, by whom and by when." in html
    assert "submit at least" not in html
    assert not DeescalationPlan.objects.exists()


def test_the_workspace_timeline_names_states_in_words(mia, case):
    html = mia.get(reverse("manager-incident", args=[case.incident.number])).content.decode()
    assert "Awaiting entitlement check → Escalated" in html
    assert ": Awaiting entitlement check<" in html or ": Awaiting entitlement check\n" in html
    assert "start →" not in html


def test_the_board_promises_what_the_workspace_and_the_initiator_are_told(mia, case):
    from incidents.selectors_deescalation import next_update_due

    Escalation.objects.filter(pk=case.pk).update(escalated_at=timezone.now() - timedelta(hours=7))
    board = mia.get(reverse("manager-board")).context["board"]
    (row,) = board.waiting_for_plan
    assert row.next_update_at == next_update_due(case.incident)
    workspace = mia.get(reverse("manager-incident", args=[case.incident.number]))
    assert workspace.context["next_update"] == row.next_update_at


def test_the_plan_editor_and_workspace_show_why_it_was_escalated(mia, case, support_user):
    for page in (reverse("plan-edit", args=[case.incident.number]), workspace(case)):
        html = mia.get(page).content.decode()
        why = html.split('id="why-escalated"')[1].split("</section>")[0]
        assert case.incident.description in why
        assert "Asked by the initiator" in why and "Still down at noon." in why
        assert "The decision" in why and "P2 close to breach." in why
        assert support_user.get_full_name() in why
        assert "Handed over by IT operations" not in why


def test_a_handed_over_major_incident_shows_the_state_it_was_handed_over_in(
    mia, initiator, support_user, operations_user, service
):
    from incidents.services.operations import major_hand_over

    incident = reported(initiator=initiator, service=service, support=support_user)
    case = major(incident=incident, support=support_user, acknowledged_by=operations_user)
    major_hand_over(escalation=case, actor=operations_user, note="Failed over; primary down.")
    html = mia.get(reverse("plan-edit", args=[incident.number])).content.decode()
    why = html.split('id="why-escalated"')[1].split("</section>")[0]
    assert "Declared a major incident" in why and "Whole site down." in why
    # Declaring it major is its own decision: the reason is not repeated as one.
    assert "The decision" not in why
    assert "Handed over by IT operations" in why and "Failed over; primary down." in why


def test_a_case_raised_by_the_sla_monitor_and_decided_by_a_removed_account_still_shows(mia, case):
    # The SLA monitor raises cases with no user; a decider's account may be deleted later.
    Escalation.objects.filter(pk=case.pk).update(
        raised_by=None, decided_by=None, source=Escalation.Source.SLA_MONITOR
    )
    for page in (reverse("plan-edit", args=[case.incident.number]), workspace(case)):
        response = mia.get(page)
        assert response.status_code == 200
        why = response.content.decode().split('id="why-escalated"')[1].split("</section>")[0]
        assert "Raised by the SLA monitor" in why and "P2 close to breach." in why


def test_a_blank_note_from_the_workspace_shows_the_error_under_the_same_field(
    mia, case, manager_user, support_user
):
    case = deescalating(case=case, manager=manager_user, owner=support_user)
    activity = case.plan.activities.get()
    response = mia.post(
        reverse("activity-complete", args=[activity.pk]),
        {"complete-note": "   ", "back": "workspace"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    field = html.split(f'id="note-{activity.pk}"')[0].rsplit("<input", 1)[1]
    assert "is-invalid" in field
    assert f'id="note-{activity.pk}-error">This field is required.<' in html
    assert DeescalationActivity.objects.get(pk=activity.pk).status == "open"


def test_two_managers_editing_one_plan_the_second_is_told_and_sees_the_first_ones(
    mia, client, case, support_user, second_manager
):
    url = reverse("plan-edit", args=[case.incident.number])
    # Both open the editor on the same draft (revision 1).
    mia.post(url, plan_post(support_user, summary="First draft"))
    seen = DeescalationPlan.objects.get().revision
    assert 'name="seen_revision" value="1"' in mia.get(url).content.decode()
    other = Client()
    other.force_login(second_manager)
    other.post(url, plan_post(support_user, summary="Max's version", seen_revision=seen))

    response = mia.post(url, plan_post(support_user, summary="Mia's stale", seen_revision=seen))
    assert response.status_code == 409
    html = response.content.decode()
    assert "This incident changed while you were looking" in html
    assert "your changes were not saved" in html
    assert "Max&#x27;s version" in html  # the form now shows the plan as it is
    plan = DeescalationPlan.objects.get()
    assert plan.summary == "Max's version"
    assert f'name="seen_revision" value="{plan.revision}"' in html


def test_saving_after_someone_submitted_the_plan_says_the_changes_were_not_saved(
    mia, case, support_user, manager_user
):
    url = reverse("plan-edit", args=[case.incident.number])
    mia.post(url, plan_post(support_user, summary="Draft"))
    submitted(case=Escalation.objects.get(pk=case.pk), manager=manager_user, owner=support_user)
    response = mia.post(url, plan_post(support_user, summary="Late edit", seen_revision=2),
                        follow=True)  # fmt: skip
    html = response.content.decode()
    assert "This incident changed while you were looking" in html
    assert "your changes to the plan were not saved" in html
    assert DeescalationPlan.objects.get().summary != "Late edit"
