"""The whole seed process through the UI: four people, four browser contexts, one server.

The initiator's status page is checked after every step, because that is what the
process promises them: to be told, proactively, where their incident stands.
"""

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from incidents.models import Escalation
from notifications.models import Notification

from .conftest import E2E, Person
from .steps import (
    approve_plan,
    ask_for_escalation,
    complete_my_activity,
    confirm_deescalation,
    draft_and_submit_plan,
    entitlement_decision,
    incident_action,
    report,
    status_says,
)

pytestmark = E2E
S = Escalation.State


def screenshot(person, role: str, name: str, *args) -> None:
    """Every run leaves a screenshot of each role's main page under var/screenshots/."""
    person.go(name, *args)
    person.shot(role)


def test_report_to_deescalated_with_the_initiator_told_at_every_step(people):
    ivy, sam, mia = people["initiator"], people["support"], people["manager"]

    number = report(ivy, title="Cannot send e-mail")
    status_says(ivy, number, "We have your report")

    ask_for_escalation(ivy, number, "The quarterly report goes out at 17:00.")
    status_says(ivy, number, "The service desk is checking it", stage="Awaiting entitlement check")
    expect(ivy.page.locator("#escalation-blocker")).to_contain_text("already under way")

    screenshot(sam, "support-queue", "support-queue")
    entitlement_decision(sam, number, "escalate", "P2 with a hard deadline today.")
    status_says(ivy, number, "Your incident has been escalated", stage="Escalated")

    draft_and_submit_plan(mia, number, owner_name="Sam Support")
    status_says(ivy, number, "a recovery plan is being approved")

    screenshot(mia, "manager-board", "manager-board")
    approve_plan(mia, number)
    screenshot(mia, "manager-workspace", "manager-incident", number)
    status_says(ivy, number, "A recovery plan is being carried out", stage="Being deescalated")
    # The message about the approved plan is listed among those sent to the initiator.
    told = Notification.objects.get(recipient=ivy.user, event="plan_approved", channel="in_app")
    expect(ivy.page.locator("#notifications")).to_contain_text(told.subject)
    ivy.shot("initiator-status-page")
    screenshot(ivy, "initiator-my-incidents", "my-incidents")

    complete_my_activity(sam, "Failed over at 13:05; mail flows.")
    status_says(ivy, number, "A recovery plan is being carried out")

    confirm_deescalation(mia, number)
    status_says(ivy, number, "The escalation is over", stage="Deescalated")
    expect(ivy.page.locator("#timeline")).to_contain_text("Mail flows again.")


def test_a_rejected_request_tells_the_initiator_why(people):
    ivy, sam = people["initiator"], people["support"]
    number = report(ivy, title="Printer on floor 3 jams")
    ask_for_escalation(ivy, number, "It is annoying.")
    entitlement_decision(sam, number, "reject", "A P3 well within its target; a spare is on 2.")
    status_says(ivy, number, "was not accepted", stage="Rejected")
    expect(ivy.page.locator("#timeline")).to_contain_text("a spare is on 2")
    # It can be asked for again once rejected: the button is live, not disabled.
    expect(ivy.page.get_by_role("button", name="Ask for an escalation")).to_be_enabled()


def test_an_imminent_escalation_prevented_and_avoided(people):
    ivy, sam = people["initiator"], people["support"]
    number = report(ivy, title="VPN drops every hour")
    incident_action(sam, number, "flag_imminent", reason="75 % of the target used, no fix yet.")
    assert Escalation.objects.get(incident__number=number).state == S.IMMINENT
    status_says(ivy, number, "keep this from needing an escalation")

    incident_action(
        sam, number, "record_prevention", kind="Engaged a specialist",
        note="Engaged the network specialist.",
    )  # fmt: skip
    incident_action(sam, number, "avoid", reason="The specialist replaced the faulty switch.")
    status_says(ivy, number, "An escalation was not needed", stage="Avoided")
    expect(ivy.page.locator("#timeline")).to_contain_text("replaced the faulty switch")


def test_a_major_incident_through_it_operations_and_back_to_the_managers(people):
    ivy, sam, otto, mia = (people[r] for r in ("initiator", "support", "operations", "manager"))
    number = report(ivy, title="Web shop checkout fails", service="Web shop")
    incident_action(sam, number, "classify_major", reason="All customers, revenue stopped.")
    status_says(ivy, number, "major incident", stage="Major incident")

    screenshot(otto, "operations-queue", "operations-queue")
    row = otto.page.locator("#major-incidents tr", has_text=number)
    expect(row).to_contain_text("Not acknowledged")
    row.get_by_role("button", name="Acknowledge").click()
    row = otto.page.locator("#major-incidents tr", has_text=number)
    expect(row).to_contain_text("Acknowledged by Otto")
    row.get_by_role("link", name="Open").click()
    otto.shot("operations-workspace")
    otto.accessible()

    page = otto.page
    page.get_by_label("Others you told yourself (optional)").fill("CIO, head of e-commerce")
    page.get_by_label("What they were told").fill("Checkout down since 10:12, all customers.")
    page.get_by_role("button", name="Escalate further").click()
    expect(page.locator("#operations-log")).to_contain_text("CIO, head of e-commerce")
    page.get_by_label("Action taken").fill("Rolled back the 10:05 payment release.")
    page.get_by_role("button", name="Log action").click()
    expect(page.locator("#operations-log")).to_contain_text("Rolled back the 10:05 payment")
    page.get_by_label("State you hand over in").fill("Checkout works on the old release.")
    page.get_by_role("button", name="Hand over for deescalation").click()
    expect(page.locator("#case-state")).to_have_text("Escalated")
    status_says(ivy, number, "Your incident has been escalated", stage="Escalated")

    mia.go("manager-board")
    expect(mia.page.locator("#waiting_for_plan")).to_contain_text(number)
    # The plan starts from the state IT operations handed over in.
    mia.page.locator("#waiting_for_plan tr", has_text=number).get_by_role(
        "link", name="Draft plan"
    ).click()
    expect(mia.page.locator("#why-escalated")).to_contain_text("Checkout works on the old release.")
    mia.accessible()


def test_no_serious_accessibility_violation_on_the_main_pages(people, live_server):
    ivy, mia, otto, sam = (people[r] for r in ("initiator", "manager", "operations", "support"))
    number = report(ivy, title="Shared drive is read-only")
    ask_for_escalation(ivy, number, "Month-end closing depends on it.")

    for person, name, args in [
        (ivy, "my-incidents", ()),
        (ivy, "my-incident", (number,)),
        (ivy, "incident-report", ()),
        (mia, "manager-board", ()),
        (mia, "manager-incident", (number,)),
        (otto, "operations-queue", ()),
        (sam, "my-activities", ()),
        (sam, "incident-detail", (number,)),
        (sam, "entitlement-check", (Escalation.objects.get(incident__number=number).pk,)),
        (ivy, "notifications:inbox", ()),
    ]:
        person.go(name, *args)
        person.accessible()
        person.shot(f"page-{name}")


def test_no_serious_accessibility_violation_on_the_support_queue(people):
    try:
        reverse("support-queue")
    except NoReverseMatch:
        pytest.fail("the support queue (staff-pages branch) is not on this branch yet")
    for title in ("Laptop will not boot", "Teams calls drop"):
        number = report(people["initiator"], title=title)
    ask_for_escalation(people["initiator"], number, "Customer demo at 14:00.")
    people["support"].go("support-queue")
    people["support"].accessible()


def test_the_login_page_is_accessible(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + reverse("login"))
    person = Person(user=None, page=page, base_url=live_server.url)
    person.accessible()
    person.shot("login")
    context.close()
