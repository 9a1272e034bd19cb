"""What each person does in the browser, step by step, as they would do it."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from incidents.forms import ACTIONS
from incidents.models import Escalation, Incident

from .conftest import Person


def sent(page, message: str) -> None:
    """A form was posted and the page it redirected to confirms it.

    Waiting for the confirmation, not just for the click, is what makes the next step safe:
    the live server has committed the change, and this page is not still navigating away
    when the next action (another person's page, a read from the database) starts.
    """
    expect(page.locator(".messages .alert-success")).to_contain_text(message)


def report(ivy: Person, *, title: str, service: str = "E-mail") -> str:
    page = ivy.page
    ivy.go("incident-report")
    page.get_by_label("What is wrong, in a few words?").fill(title)
    page.get_by_label("Tell us more").fill("Nothing arrives since 9:00; colleagues see it too.")
    page.get_by_label("Which service is affected?").select_option(label=service)
    page.get_by_label("My team or a group of people").check()
    page.get_by_label("Right now: I cannot work at all").check()
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("#story-headline")).to_contain_text("We have your report")
    return Incident.objects.get(title=title).number


def status_says(ivy: Person, number: str, headline: str, *, stage: str | None = None) -> None:
    """The initiator's status page, reloaded, says where the incident stands."""
    ivy.go("my-incident", number)
    expect(ivy.page.locator("#story-headline")).to_contain_text(headline)
    if stage is not None:
        expect(ivy.page.locator("#escalation-stage")).to_have_text(stage)


def ask_for_escalation(ivy: Person, number: str, reason: str) -> None:
    ivy.go("my-incident", number)
    ivy.page.get_by_label("Why does this need escalating?").fill(reason)
    ivy.page.get_by_role("button", name="Ask for an escalation").click()
    expect(ivy.page.get_by_role("alert").or_(ivy.page.locator(".alert-success"))).to_contain_text(
        "Your escalation request is with the service desk"
    )


# --- first-level support: the other helper's pages (support queue, check, incident page) ---


def case_of(number: str) -> Escalation:
    return Escalation.objects.filter(incident__number=number).order_by("-created_at").first()


def entitlement_decision(sam: Person, number: str, action: str, text: str) -> None:
    """From the support queue's entitlement tab, open the check and decide."""
    page = sam.page
    sam.go("support-queue")
    page.goto(page.url.split("?")[0] + "?tab=entitlement")
    row = page.locator("tr", has_text=number)
    row.get_by_role("link", name="Check").click()
    panel = page.locator(f"#decide-{action}")
    # The recommended decision's panel is open on arrival, and its button toggles: clicking
    # it would close the panel being filled in (the submit was then lost mid-animation).
    if "show" not in (panel.get_attribute("class") or "").split():
        page.locator(f'[data-bs-target="#decide-{action}"]').click()
    # Bootstrap's collapse done ("collapsing" -> "collapse show"), not merely visible.
    expect(panel).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    expect(page.locator("#decisions .collapsing")).to_have_count(0)
    panel.locator("textarea").first.fill(text)
    panel.locator('button[type="submit"]').click()
    # The queue says which incident was decided and how, once the decision is committed.
    sent(page, f"{number}: {ACTIONS[action].done}")


def incident_action(sam: Person, number: str, action: str, **fields: str) -> None:
    """On the staff incident page: the action's button opens its form; fill it and send.

    `fields` are form field names; a <select> is given the visible label of its option.
    """
    page = sam.page
    sam.go("incident-detail", number)
    page.locator(f'button[data-action="{action}"]').click()
    modal = page.locator(f"#action-{action}")
    expect(modal).to_be_visible()
    for name, value in fields.items():
        field = modal.locator(f'[name="{name}"], [name$="-{name}"]').first
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    modal.locator('.modal-footer button[type="submit"]').click()
    sent(page, ACTIONS[action].done)


# --- incident manager ----------------------------------------------------------------------


def draft_and_submit_plan(mia: Person, number: str, owner_name: str) -> None:
    page = mia.page
    mia.go("manager-board")
    section = page.locator("#waiting_for_plan")
    section.locator("tr", has_text=number).get_by_role("link", name="Draft plan").click()
    page.get_by_label("Summary for the initiator").fill(
        "We move your mailbox to the standby server and check it with you."
    )
    page.locator("#id_activities-0-description").fill("Fail over to the standby mail server")
    page.locator("#id_activities-0-owner").select_option(label=owner_name)
    due = timezone.localtime() + timedelta(hours=2)
    page.locator("#id_activities-0-due_at").fill(due.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Save and submit for approval").click()
    expect(page.locator("#case-state")).to_have_text("Deescalation plan submitted")


def approve_plan(mia: Person, number: str) -> None:
    page = mia.page
    mia.go("manager-board")
    page.locator("#waiting_for_approval tr", has_text=number).get_by_role(
        "link", name="Review plan"
    ).click()
    page.get_by_role("button", name="Approve plan").click()
    expect(page.locator("#case-state")).to_have_text("Being deescalated")


def confirm_deescalation(mia: Person, number: str) -> None:
    page = mia.page
    mia.go("manager-board")
    page.locator("#deescalating tr", has_text=number).get_by_role(
        "link", name="Confirm deescalation"
    ).click()
    expect(page.locator("#progress-text")).to_contain_text("1 / 1 done")
    page.get_by_label("Closing note for the initiator").fill("Mail flows again.")
    page.get_by_role("button", name="Confirm deescalation").click()
    expect(page.locator("#case-state")).to_have_text("Deescalated")


def complete_my_activity(person: Person, note: str) -> None:
    page = person.page
    person.go("my-activities")
    page.get_by_placeholder("What was done?").first.fill(note)
    page.get_by_role("button", name="Mark done").first.click()
    sent(page, "Marked done")
