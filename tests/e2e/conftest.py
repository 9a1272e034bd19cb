"""A real Chromium (Debian's) driven by Playwright against pytest-django's live server.

Playwright's sync API runs an event loop in the test's thread; Django then believes it is
in async code and refuses database calls. The tests only set data up and read it back
between browser steps, never concurrently with the loop's work, so the check is lifted.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS, IT_OPERATIONS
from tests.conftest import service_missing
from tests.factories import ServiceFactory, SupportGroupFactory, UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PASSWORD = "pw-for-tests"
# Under load (CI on 2 cores, or pytest-xdist beside the rest of the suite) one request to the
# live server can take seconds. The waits are generous but bounded, and every step waits for
# what the user would see next, so a slow server makes a test slow, not red.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


# Every module here starts with `pytestmark = E2E`. The live server needs committed data,
# and serialized_rollback restores what the data migrations wrote (roles, priority matrix,
# SLA policies) after each flush, for the tests that run next.
E2E = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    # Under pytest-xdist, with the integration tests: one browser and one live server at a
    # time, on one xdist worker.
    pytest.mark.xdist_group("processes"),
]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not os.path.exists(CHROMIUM):
        service_missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    serialized = {c.alias: getattr(c, "_test_serialized_contents", None) for c in connections.all()}
    with sync_playwright() as playwright:
        # Once Playwright's loop runs, this thread can get fresh connection wrappers (Django
        # keeps them in a context-local); give them the reference data the test database
        # setup serialized, or serialized_rollback would restore nothing after a flush.
        for connection in connections.all():
            if serialized.get(connection.alias) and not hasattr(
                connection, "_test_serialized_contents"
            ):
                connection._test_serialized_contents = serialized[connection.alias]
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed_call = True
    return report


@dataclass
class Person:
    """One user in their own browser context (own cookies, own session)."""

    user: object
    page: object
    base_url: str

    def go(self, name: str, *args) -> None:
        self.page.goto(self.base_url + reverse(name, args=args))

    def shot(self, role: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{role}.png"), full_page=True)

    def accessible(self) -> None:
        """axe-core finds no serious or critical violation on the page as it is now."""
        if not AXE.exists():
            pytest.fail(f"axe-core is missing at {AXE}: run `make test` (it installs it)")
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{self.page.url}\n" + "\n".join(
            f"{v['impact']}: {v['id']} - {v['help']} at "
            + ", ".join(n["target"][0] for n in v["nodes"][:5])
            for v in bad
        )


@pytest.fixture
def people(request, browser, live_server) -> Iterator[dict[str, Person]]:
    """The initiator, first-level support, an incident manager and IT operations, logged in."""
    desk = SupportGroupFactory(name="Service desk", level=1)
    SupportGroupFactory(name="Application support", level=2)
    ServiceFactory(name="E-mail", default_group=desk)
    ServiceFactory(name="Web shop", default_group=desk)
    users = {
        "initiator": UserFactory(username="ivy", first_name="Ivy", last_name="Initiator"),
        "support": UserFactory(username="sam", first_name="Sam", last_name="Support",
                               roles=[FIRST_LEVEL_SUPPORT]),
        "manager": UserFactory(username="mia", first_name="Mia", last_name="Manager",
                               roles=[INCIDENT_MANAGERS]),
        "operations": UserFactory(username="otto", first_name="Otto", last_name="Operations",
                                  roles=[IT_OPERATIONS]),
    }  # fmt: skip
    contexts = []
    result = {}
    for role, user in users.items():
        context = browser.new_context(
            viewport={"width": 390, "height": 844} if role == "initiator" else None
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        person = Person(user=user, page=page, base_url=live_server.url)
        login(person)
        result[role] = person
    yield result
    if getattr(request.node, "failed_call", False):
        # What each person's browser showed when the test failed, for the CI log's reader.
        for role, person in result.items():
            person.shot(f"failed-{request.node.name}-{role}")
    for context in contexts:
        context.close()


def login(person: Person) -> None:
    page = person.page
    person.go("login")
    page.get_by_label("Username").fill(person.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Logged in once the page after the login form greets the user by name; going on before
    # that would abort the login's navigation and leave the next page on the login form.
    expect(page.locator("nav .navbar-text")).to_have_text(
        person.user.get_full_name() or person.user.username
    )
