"""Logging in lands each user on their role's home; the nav offers only what they may use."""

import pytest
from django.urls import reverse

from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS, IT_OPERATIONS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_login_page_is_styled_and_logging_in_goes_home(client, initiator):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b"Log in" in page.content
    landed = client.post(
        reverse("login"), {"username": "ivy", "password": "pw-for-tests"}, follow=True
    )
    assert landed.redirect_chain[-1][0] == reverse("my-incidents")


def test_a_wrong_password_says_so_and_logs_nobody_in(client, initiator):
    page = client.post(reverse("login"), {"username": "ivy", "password": "nope"})
    assert page.status_code == 200
    assert b"correct username and password" in page.content
    assert client.get(reverse("my-incidents")).status_code == 302


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("roles", "home"),
    [
        ([], "my-incidents"),
        ([INCIDENT_MANAGERS], "manager-board"),
        ([IT_OPERATIONS], "operations-queue"),
    ],
)
def test_each_role_lands_on_its_home(client, roles, home):
    client.force_login(UserFactory(roles=roles))
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse(home)


def test_support_staff_land_on_the_support_queue(client):
    client.force_login(UserFactory(roles=[FIRST_LEVEL_SUPPORT]))
    assert client.get(reverse("home"))["Location"] == reverse("support-queue")


def test_a_user_with_several_roles_starts_at_the_first(client):
    client.force_login(UserFactory(roles=[IT_OPERATIONS, INCIDENT_MANAGERS]))
    assert client.get(reverse("home"))["Location"] == reverse("manager-board")


def test_the_nav_shows_only_what_the_role_may_use(client):
    client.force_login(UserFactory(roles=[]))
    html = client.get(reverse("my-incidents")).content.decode()
    assert "Report an incident" in html
    assert "Manager board" not in html
    assert "Operations queue" not in html
    assert "My activities" not in html


def test_a_user_with_several_roles_gets_each_in_the_nav(client):
    client.force_login(UserFactory(roles=[INCIDENT_MANAGERS, IT_OPERATIONS]))
    html = client.get(reverse("my-incidents")).content.decode()
    assert reverse("manager-board") in html
    assert reverse("operations-queue") in html
    assert reverse("my-activities") in html
    assert reverse("support-queue") not in html


def test_logging_out_is_a_post_and_ends_the_session(client, initiator):
    client.force_login(initiator)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("my-incidents")).status_code == 302


def test_a_page_of_another_role_says_why_and_keeps_the_navigation(client, initiator):
    client.force_login(initiator)
    response = client.get(reverse("support-queue"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "This page is not for your role" in page
    assert "Staff pages need a support, incident manager or IT operations role." in page
    assert 'href="/my/incidents/"' in page  # the user's own navigation is still there
    assert "Log out" in page


def test_an_unknown_page_is_a_styled_404(client, initiator, settings):
    settings.DEBUG = False
    client.force_login(initiator)
    response = client.get("/my/incidents/INC9999999/")
    assert response.status_code == 404
    assert "We could not find that page" in response.content.decode()


def test_the_500_page_renders_without_a_request_or_a_database():
    from django.template import loader

    page = loader.get_template("500.html").render({})
    assert "Something went wrong on our side" in page
