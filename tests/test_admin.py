"""The admin: reference data edited, transitions only through the services, history read-only."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from incidents.models import Escalation, Incident, Service, TimelineEntry
from incidents.services.escalations import escalation_request
from incidents.services.incidents import incident_report, incident_start_work
from notifications.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:incidents_{model._meta.model_name}_{view}", args=args)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def incident(initiator, service):
    return incident_report(
        initiator=initiator, title="VPN drops every 20 minutes", description="Since Monday.",
        service=service, impact=2, urgency=2,
    )  # fmt: skip


@pytest.fixture
def working(incident, support_user):
    return incident_start_work(incident=incident, actor=support_user)


@pytest.fixture
def requested(working, initiator):
    return escalation_request(incident=working, actor=initiator, reason="Still broken at noon")


INCIDENT_MODELS = list(apps.get_app_config("incidents").get_models())


def test_every_incidents_model_has_an_admin_page_or_is_edited_inline():
    inline = {i.model for a in admin.site._registry.values() for i in a.inlines}
    missing = [m for m in INCIDENT_MODELS if not admin.site.is_registered(m) and m not in inline]
    assert [m.__name__ for m in missing] == []


@pytest.mark.parametrize("model", [m for m in INCIDENT_MODELS if admin.site.is_registered(m)])
def test_every_list_opens_and_searches(admin_client, requested, model):
    response = admin_client.get(_url(model, "changelist"), {"q": "VPN"})
    assert response.status_code == 200


def test_incident_list_has_a_fixed_number_of_queries(
    admin_client, initiator, service, django_assert_max_num_queries
):
    for n in range(15):
        incident_report(initiator=initiator, title=f"Printer {n} jammed", description="Paper",
                        service=service, impact=3, urgency=3)  # fmt: skip
    with django_assert_max_num_queries(12):
        response = admin_client.get(_url(Incident, "changelist"), {"status__exact": "new"})
    assert response.context["cl"].result_count == 15


def test_the_incident_page_shows_its_escalations_and_timeline(admin_client, requested):
    response = admin_client.get(_url(Incident, "change", requested.incident_id))
    assert response.status_code == 200
    assert b"Still broken at noon" in response.content
    assert b"Awaiting entitlement check" in response.content


def test_the_timeline_cannot_be_added_changed_or_deleted_even_by_a_superuser(
    admin_client, requested
):
    entry = TimelineEntry.objects.filter(incident=requested.incident).first()

    assert admin_client.get(_url(TimelineEntry, "add")).status_code == 403
    assert admin_client.get(_url(TimelineEntry, "delete", entry.pk)).status_code == 403
    page = admin_client.get(_url(TimelineEntry, "change", entry.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    rewrite = admin_client.post(_url(TimelineEntry, "change", entry.pk), {"note": "rewritten"})
    assert rewrite.status_code == 403
    entry.refresh_from_db()
    assert entry.note != "rewritten"
    changelist = admin_client.get(_url(TimelineEntry, "changelist"))
    assert changelist.context["action_form"] is None  # not even "delete selected"


def test_resolving_in_the_admin_asks_for_a_note_and_runs_the_service(
    admin_client, admin_user, working, initiator
):
    chosen = {"action": "resolve", "_selected_action": [working.pk]}

    form = admin_client.post(_url(Incident, "changelist"), chosen)
    assert form.status_code == 200
    assert b"Decided in the admin by admin" in form.content
    assert Incident.objects.get(pk=working.pk).status == Incident.Status.IN_PROGRESS

    done = admin_client.post(
        _url(Incident, "changelist"),
        chosen | {"apply": "Resolve", "text": "Reset the VPN profile."},
        follow=True,
    )

    assert "Resolve: done for 1 of 1." in _messages(done)
    assert Incident.objects.get(pk=working.pk).status == Incident.Status.RESOLVED
    last = TimelineEntry.objects.filter(incident=working).last()
    assert (last.actor, last.action, last.note) == (admin_user, "resolve", "Reset the VPN profile.")
    assert Notification.objects.filter(recipient=initiator, event="incident_resolved").exists()


def test_a_refused_action_is_reported_and_changes_nothing(admin_client, incident):
    response = admin_client.post(
        _url(Incident, "changelist"),
        {"action": "close", "_selected_action": [incident.pk]},
        follow=True,
    )

    assert _messages(response) == [f"{incident}: cannot close while it is new."]
    assert Incident.objects.get(pk=incident.pk).status == Incident.Status.NEW


def test_the_actor_needs_the_permission_the_page_would_need(client, requested):
    # A staff member of IT operations may see escalations but not decide entitlement.
    viewer = UserFactory(username="ops-admin", is_staff=True, roles=["IT operations"])
    viewer.user_permissions.add(Permission.objects.get(codename="view_escalation"))
    client.force_login(viewer)

    response = client.post(
        _url(Escalation, "changelist"),
        {"action": "reject", "_selected_action": [requested.pk], "apply": "Reject",
         "text": "Not entitled"},
        follow=True,
    )  # fmt: skip

    assert _messages(response) == [f"{requested}: You may not reject here."]
    assert Escalation.objects.get(pk=requested.pk).state == Escalation.State.REQUESTED


def test_escalating_from_the_admin_applies_the_procedure(admin_client, requested):
    admin_client.post(
        _url(Escalation, "changelist"),
        {"action": "escalate", "_selected_action": [requested.pk], "apply": "Escalate",
         "text": "Decided in the admin by admin"},
    )  # fmt: skip

    case = Escalation.objects.get(pk=requested.pk)
    assert (case.state, case.level, case.decision_reason) == (
        Escalation.State.ESCALATED, 1, "Decided in the admin by admin",
    )  # fmt: skip
    assert Incident.objects.get(pk=requested.incident_id).support_level == 2


def test_reference_data_is_edited_in_the_admin(admin_client, service):
    response = admin_client.post(
        _url(Service, "change", service.pk),
        {"name": "E-mail & Calendar", "description": "Exchange Online", "tier": 1,
         "default_group": service.default_group_id, "calendar": ""},
    )  # fmt: skip

    assert response.status_code == 302
    service.refresh_from_db()
    assert (service.name, service.tier) == ("E-mail & Calendar", Service.Tier.CRITICAL)
