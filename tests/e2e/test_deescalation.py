"""Issue 6 in the browser: the plan's approval with rework and four-eyes, changes during
implementation, and a major incident from classification to its post-incident review."""

from datetime import timedelta

from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from incidents.models import Escalation, Incident, Stakeholder, StakeholderNotice
from incidents.roles import INCIDENT_MANAGERS
from tests.factories import ServiceFactory, UserFactory

from .conftest import E2E, TIMEOUT_MS, Person, login
from .process import escalated
from .steps import incident_action, report, sent, status_says

pytestmark = E2E
S = Escalation.State


def _due(hours=2):
    return (timezone.localtime() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def _plan(mia: Person, number: str, *descriptions: str) -> None:
    page = mia.page
    mia.go("plan-edit", number)
    page.get_by_label("Summary for the initiator").fill("We fail over and check with you.")
    for n, description in enumerate(descriptions):
        if n:
            page.get_by_role("button", name="Add another activity").click()
        page.locator(f"#id_activities-{n}-description").fill(description)
        page.locator(f"#id_activities-{n}-owner").select_option(label="Sam Support")
        page.locator(f"#id_activities-{n}-due_at").fill(_due())
    page.get_by_role("button", name="Save and submit for approval").click()
    expect(page.locator("#case-state")).to_have_text("Deescalation plan submitted")


def _second_manager(browser, live_server) -> Person:
    user = UserFactory(username="max", first_name="Max", last_name="Second",
                       roles=[INCIDENT_MANAGERS])  # fmt: skip
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    person = Person(user=user, page=context.new_page(), base_url=live_server.url)
    login(person)
    return person


@override_settings(
    PORTAL={**__import__("django.conf").conf.settings.PORTAL, "PLAN_FOUR_EYES": True}
)
def test_plan_returned_reworked_approved_by_another_manager_changed_and_confirmed(
    people, browser, live_server
):
    ivy, sam, mia = people["initiator"], people["support"], people["manager"]
    max_ = _second_manager(browser, live_server)
    number = report(ivy, title="Mail bounces")
    # Asking and the entitlement check are the seed test's; here they happen offstage.
    escalated(incident=Incident.objects.get(number=number), initiator=ivy.user, support=sam.user)

    _plan(mia, number, "Fail over")
    # Four-eyes: the author sees neither approve nor return.
    expect(mia.page.get_by_role("button", name="Approve plan")).to_have_count(0)
    page = max_.page
    max_.go("manager-incident", number)
    page.get_by_label("What should be reworked?").fill("Add a check with the initiator.")
    page.get_by_role("button", name="Return for rework").click()
    expect(page.locator("#case-state")).to_have_text("Escalated")

    mia.go("manager-incident", number)
    expect(mia.page.locator("#plan")).to_contain_text("Add a check with the initiator.")
    _plan(mia, number, "Fail over", "Check mail with Ivy")
    max_.go("manager-incident", number)
    page.get_by_role("button", name="Approve plan").click()
    expect(page.locator("#case-state")).to_have_text("Being deescalated")
    status_says(ivy, number, "A recovery plan is being carried out")
    expect(ivy.page.locator("#next-update")).to_contain_text("next update by")

    # During implementation: move, add one, cancel one; confirm waits for the open one.
    page = mia.page
    mia.go("manager-incident", number)
    page.get_by_role("button", name="Move up: Check mail with Ivy").click()
    expect(page.locator("#activities tbody tr").first).to_contain_text("Check mail with Ivy")
    page.locator("#id_add_activity-description").fill("Watch the queue for an hour")
    page.locator("#id_add_activity-owner").select_option(label="Sam Support")
    page.locator("#id_add_activity-due_at").fill(_due())
    page.get_by_role("button", name="Add activity").click()
    expect(page.locator("#progress-text")).to_contain_text("0 / 3 done")
    row = page.locator("#activities tr", has_text="Watch the queue")
    row.get_by_text("Cancel this activity").click()
    row.get_by_label("Why is it no longer needed?").fill("The queue is empty already.")
    row.get_by_role("button", name="Cancel activity").click()
    expect(page.locator("#progress-text")).to_contain_text("1 / 3 done")
    expect(page.locator("#confirm-blockers")).to_contain_text("Every deescalation activity")

    sam.go("my-activities")
    for note in ("Failed over", "Ivy confirms"):
        sam.page.get_by_placeholder("What was done?").first.fill(note)
        sam.page.get_by_role("button", name="Mark done").first.click()
        sent(sam.page, "Marked done")
    mia.go("manager-incident", number)
    page.get_by_label("Closing note for the initiator").fill("Mail flows again.")
    page.get_by_role("button", name="Confirm deescalation").click()
    expect(page.locator("#case-state")).to_have_text("Deescalated")
    status_says(ivy, number, "The escalation is over")
    max_.page.context.close()


def test_major_incident_from_classification_to_review_with_a_linked_incident(people):
    ivy, sam, otto, mia = (people[r] for r in ("initiator", "support", "operations", "manager"))
    Stakeholder.objects.create(name="Cora CIO", email="cio@example.com", role="CIO")
    ServiceFactory(name="Payments")
    other = UserFactory(username="olga", first_name="Olga", last_name="Other")
    number = report(ivy, title="Checkout fails", service="Web shop")
    theirs = report(ivy, title="Cannot pay", service="Payments")
    Incident.objects.filter(number=theirs).update(initiator=other)

    sam.go("incident-detail", number)
    sam.page.locator('button[data-action="classify_major"]').click()
    expect(sam.page.locator("#action-classify_major")).to_contain_text("Major-incident criteria")
    incident_action(sam, number, "classify_major", reason="All customers, revenue stopped.")

    page = otto.page
    otto.go("operations-incident", number)
    expect(page.locator("#ack-status")).to_contain_text("Acknowledge by")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#ack-status")).to_contain_text("Acknowledged by Otto")
    page.get_by_label("Users affected").fill("400")
    page.get_by_role("button", name="Record impact").click()
    expect(page.locator("#impact")).to_contain_text("400")
    page.get_by_label("Cora CIO (CIO)").check()
    page.get_by_label("What they were told").fill("Checkout down, all customers.")
    page.get_by_role("button", name="Escalate further").click()
    expect(page.locator("#operations-log")).to_contain_text("Cora CIO")
    page.get_by_label("Related incident number").fill(theirs)
    page.get_by_role("button", name="Link incident").click()
    expect(page.locator("#linked-incidents")).to_contain_text("Cannot pay")
    page.get_by_label("Status update for the initiator").fill("Fix expected at 16:00.")
    page.get_by_role("button", name="Send status update").click()
    sent(page, "The status update was sent to the initiator.")
    page.get_by_label("State you hand over in").fill("Works on the old release.")
    page.get_by_role("button", name="Hand over for deescalation").click()
    expect(page.locator("#case-state")).to_have_text("Escalated")
    assert StakeholderNotice.objects.filter(email="cio@example.com").count() == 1

    # The other initiator sees the major incident's update on their own status page.
    context = ivy.page.context.browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    olga = Person(user=other, page=context.new_page(), base_url=ivy.base_url)
    login(olga)
    olga.go("my-incident", theirs)
    expect(olga.page.locator("body")).to_contain_text("Fix expected at 16:00.")
    olga.page.context.close()

    _plan(mia, number, "Roll forward with the fix")
    mia.go("manager-incident", number)
    mia.page.get_by_role("button", name="Approve plan").click()
    expect(mia.page.locator("#case-state")).to_have_text("Being deescalated")
    sam.go("my-activities")
    sam.page.get_by_placeholder("What was done?").first.fill("Released the fix")
    sam.page.get_by_role("button", name="Mark done").first.click()
    sent(sam.page, "Marked done")
    mia.go("manager-incident", number)
    expect(mia.page.locator("#confirm-blockers")).to_contain_text("post-incident review")
    mia.page.get_by_role("link", name="Write the post-incident review").click()
    review = mia.page
    review.get_by_label("What happened").fill("A payment release broke checkout.")
    review.get_by_label("Cause").fill("Untested config change.")
    review.locator("#id_follow_ups-0-description").fill("Test config in staging")
    review.locator("#id_follow_ups-0-owner").select_option(label="Sam Support")
    review.get_by_role("button", name="Record the review").click()
    expect(review.locator("#review-status")).to_contain_text("review submitted")
    review.get_by_label("Closing note for the initiator").fill("Checkout works.")
    review.get_by_role("button", name="Confirm deescalation").click()
    expect(review.locator("#case-state")).to_have_text("Deescalated")
    status_says(ivy, number, "The escalation is over")
