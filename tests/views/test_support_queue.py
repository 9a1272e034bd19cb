"""The first-level support queue: scope, order, SLA words, stale marks, filters, tabs, queries."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, SupportGroup
from incidents.roles import FIRST_LEVEL_SUPPORT
from incidents.services.escalations import (
    escalation_escalate,
    escalation_flag_imminent,
    escalation_record_prevention,
    escalation_reject,
    escalation_request,
)
from incidents.services.incidents import incident_add_progress_note, incident_assign
from incidents.views import support as support_views
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

QUEUE = reverse("support-queue")


def age(incident: Incident, minutes: int) -> Incident:
    """Move an incident back in time, as if it had been reported `minutes` ago."""
    back = timedelta(minutes=minutes)
    Incident.objects.filter(pk=incident.pk).update(
        created_at=incident.created_at - back,
        response_due=incident.response_due - back,
        resolution_due=incident.resolution_due - back,
        last_progress_at=incident.last_progress_at - back,
    )
    incident.refresh_from_db()
    return incident


def rows(response) -> list[str]:
    """Incident numbers in the order the table shows them."""
    html = response.content.decode()
    out, at = [], 0
    while (at := html.find('data-number="', at)) != -1:
        at += len('data-number="')
        out.append(html[at : html.index('"', at)])
    return out


@pytest.fixture
def desk(service, support_user):
    group = SupportGroup.objects.get(name="Service desk")
    group.members.add(support_user)
    return group


def test_anonymous_and_initiators_are_kept_out(client, initiator):
    assert client.get(QUEUE).status_code == 302
    client.force_login(initiator)
    for tab in ("", "?tab=imminent", "?tab=entitlement", "?tab=decided"):
        assert client.get(QUEUE + tab).status_code == 403


@pytest.mark.parametrize("role", ["support_user", "manager_user", "operations_user"])
def test_every_staff_role_may_open_the_queue(db, client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(QUEUE).status_code == 200


def test_the_queue_shows_the_users_groups_riskiest_first(client, support_user, desk, initiator):
    service = ServiceFactory(name="VPN", default_group=desk)
    other_group = SupportGroup.objects.get(name="Platform engineering")
    calm = IncidentFactory(service=service, initiator=initiator, impact=3, urgency=3)  # P5
    urgent = age(IncidentFactory(service=service, initiator=initiator, impact=1, urgency=1), 200)
    middle = age(IncidentFactory(service=service, initiator=initiator, impact=2, urgency=2), 900)
    elsewhere = IncidentFactory(service=ServiceFactory(name="ERP", default_group=other_group),
                                initiator=initiator)  # fmt: skip
    client.force_login(support_user)
    response = client.get(QUEUE)
    assert rows(response) == [urgent.number, middle.number, calm.number]
    assert elsewhere.number not in rows(response)


def test_someone_in_no_group_sees_every_open_incident(client, manager_user, service, initiator):
    a = IncidentFactory(service=service, initiator=initiator)
    b = IncidentFactory(service=ServiceFactory(name="ERP"), initiator=initiator)
    closed = IncidentFactory(service=service, initiator=initiator, status="closed")
    client.force_login(manager_user)
    shown = rows(client.get(QUEUE))
    assert {a.number, b.number} <= set(shown)
    assert closed.number not in shown


def test_sla_bar_colours_and_words(client, support_user, desk, service, initiator):
    fresh = IncidentFactory(service=service, initiator=initiator, impact=1, urgency=1)
    late = age(IncidentFactory(service=service, initiator=initiator, impact=1, urgency=1), 275)
    client.force_login(support_user)
    html = client.get(QUEUE).content.decode()
    assert "breached 35 min ago" in html  # P1 resolution target: 4 h
    assert "bg-danger" in html and "bg-success" in html
    assert "3 h 59 min left" in html or "4 h left" in html
    assert rows(client.get(QUEUE))[:2] == [late.number, fresh.number]


def test_an_incident_without_progress_is_marked_stale(client, support_user, desk, service,
                                                     initiator):  # fmt: skip
    quiet = age(IncidentFactory(service=service, initiator=initiator, impact=1, urgency=1), 90)
    client.force_login(support_user)
    assert '<span class="badge text-bg-warning stale"' in client.get(QUEUE).content.decode()
    incident_add_progress_note(incident=quiet, actor=support_user, note="On it")
    assert '<span class="badge text-bg-warning stale"' not in client.get(QUEUE).content.decode()


def test_the_stale_mark_follows_the_sla_policy_of_the_priority(client, support_user, desk,
                                                               service, initiator):  # fmt: skip
    from incidents.models import SLAPolicy

    quiet = age(IncidentFactory(service=service, initiator=initiator, impact=3, urgency=3), 90)
    client.force_login(support_user)
    stale = '<span class="badge text-bg-warning stale"'
    assert stale not in client.get(QUEUE).content.decode()  # P5 allows two days
    SLAPolicy.objects.filter(priority=quiet.priority).update(stale_after_hours=1)
    assert stale in client.get(QUEUE).content.decode()


def test_filters_search_mine_and_sorting(client, support_user, desk, service, initiator):
    p1 = IncidentFactory(service=service, initiator=initiator, impact=1, urgency=1,
                         title="Mail server down")  # fmt: skip
    p4 = IncidentFactory(service=service, initiator=initiator, impact=3, urgency=2,
                         title="Printer jam")  # fmt: skip
    incident_assign(incident=p4, actor=support_user, assignee=support_user)
    client.force_login(support_user)
    assert rows(client.get(QUEUE, {"priority": 1})) == [p1.number]
    assert rows(client.get(QUEUE, {"q": "printer"})) == [p4.number]
    assert rows(client.get(QUEUE, {"q": p1.number})) == [p1.number]
    assert rows(client.get(QUEUE, {"q": str(p1.pk)})) == [p1.number]
    assert rows(client.get(QUEUE, {"mine": "1"})) == [p4.number]
    assert rows(client.get(QUEUE, {"assignee": support_user.pk})) == [p4.number]
    assert rows(client.get(QUEUE, {"service": service.pk, "sort": "number"})) == [
        p1.number, p4.number,
    ]  # fmt: skip
    assert rows(client.get(QUEUE, {"sort": "-age"}))[0] == p4.number
    assert client.get(QUEUE, {"sort": "drop table", "priority": "x"}).status_code == 200


def assignee_options(response) -> list[str]:
    """The names the queue's Assignee filter offers."""
    html = response.content.decode()
    select = html[html.index('name="assignee"') :]
    select = select[: select.index("</select>")]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in select.split("<option")[2:]]


def test_the_assignee_filter_offers_the_groups_people_and_the_one_it_names(
    client, support_user, desk, service, initiator, manager_user, operations_user
):
    colleague = UserFactory(username="cleo", first_name="Cleo", roles=[FIRST_LEVEL_SUPPORT])
    desk.members.add(colleague)
    client.force_login(support_user)
    names = lambda *users: [u.get_full_name() for u in users]  # noqa: E731
    # Managers and IT operations are staff too, but not of the desk.
    assert assignee_options(client.get(QUEUE)) == names(colleague, support_user)

    # A manager who took over one of the desk's incidents, named by a shared link.
    incident = IncidentFactory(service=service, initiator=initiator)
    incident_assign(incident=incident, actor=manager_user, assignee=manager_user)
    response = client.get(QUEUE, {"assignee": manager_user.pk})
    assert assignee_options(response) == names(colleague, manager_user, support_user)
    assert f'<option value="{manager_user.pk}" selected>' in response.content.decode()
    assert rows(response) == [incident.number]


def test_pagination_keeps_the_filters(client, support_user, desk, service, initiator):
    for _ in range(27):
        IncidentFactory(service=service, initiator=initiator, impact=2, urgency=2)
    client.force_login(support_user)
    first = client.get(QUEUE, {"priority": 3})
    assert len(rows(first)) == 25
    html = first.content.decode()
    assert "?priority=3&amp;page=2" in html
    assert len(rows(client.get(QUEUE, {"priority": 3, "page": 2}))) == 2


def test_htmx_refresh_returns_only_the_queue_body_with_the_same_query(
    client, support_user, desk, service, initiator
):
    IncidentFactory(service=service, initiator=initiator)
    client.force_login(support_user)
    response = client.get(QUEUE, {"priority": 3, "page": 1}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'id="queue-body"' in html
    assert 'hx-trigger="every 15s' in html
    assert 'hx-get="/support/?priority=3&amp;page=1"' in html
    full = client.get(QUEUE).content.decode()
    assert 'id="queue-body"' in full and "queue-filters" in full


def test_tabs_show_counts_prevention_waiting_age_and_decisions(client, support_user, desk,
                                                              service, initiator):  # fmt: skip
    imminent = IncidentFactory(service=service, initiator=initiator)
    case = escalation_flag_imminent(incident=imminent, actor=support_user, reason="80 % used")
    escalation_record_prevention(escalation=case, actor=support_user, kind="engage_specialist",
                                 note="Asked the DBA")  # fmt: skip
    older = IncidentFactory(service=service, initiator=initiator)
    newer = IncidentFactory(service=service, initiator=initiator)
    first = escalation_request(incident=older, actor=initiator, reason="Please")
    escalation_request(incident=newer, actor=initiator, reason="Please too")
    type(first).objects.filter(pk=first.pk).update(
        requested_at=timezone.now() - timedelta(hours=2, minutes=5)
    )
    rejected = IncidentFactory(service=service, initiator=initiator)
    escalation_reject(
        escalation=escalation_request(incident=rejected, actor=initiator, reason="Hurry"),
        actor=support_user, reason="Within SLA targets",
    )  # fmt: skip
    client.force_login(support_user)
    html = client.get(QUEUE).content.decode()
    assert 'data-count="imminent">1<' in html
    assert 'data-count="entitlement">2<' in html
    assert 'data-count="decided">1<' in html
    imminent_tab = client.get(QUEUE, {"tab": "imminent"})
    assert rows(imminent_tab) == [imminent.number]
    assert "Engaged a specialist: Asked the DBA" in imminent_tab.content.decode()
    waiting = client.get(QUEUE, {"tab": "entitlement"})
    assert rows(waiting) == [older.number, newer.number]  # oldest first
    assert "2 h 5 min" in waiting.content.decode()
    assert reverse("entitlement-check", args=[first.pk]) in waiting.content.decode()
    decided = client.get(QUEUE, {"tab": "decided"})
    assert rows(decided) == [rejected.number]
    assert "Within SLA targets" in decided.content.decode()
    # Every tab shows every badge, the open incidents' too.
    assert 'data-count="queue">4<' in html
    for tab in ("imminent", "entitlement", "decided"):
        assert 'data-count="queue">4<' in client.get(QUEUE, {"tab": tab}).content.decode()
    assert 'data-count="queue">0<' in client.get(QUEUE, {"priority": "5"}).content.decode()


def test_the_open_incidents_badge_stops_counting_at_its_cap(
    client, support_user, desk, service, initiator, monkeypatch
):
    monkeypatch.setattr(support_views, "BADGE_CAP", 3)
    for _ in range(3):
        IncidentFactory(service=service, initiator=initiator)
    client.force_login(support_user)
    for tab in ("queue", "decided"):
        assert 'data-count="queue">3<' in client.get(QUEUE, {"tab": tab}).content.decode()
    IncidentFactory(service=service, initiator=initiator)
    for tab in ("queue", "decided"):
        assert 'data-count="queue">3+<' in client.get(QUEUE, {"tab": tab}).content.decode()


def test_a_search_with_more_matches_than_the_cap_says_so_and_pages_on(
    client, support_user, desk, service, initiator, monkeypatch
):
    monkeypatch.setattr(support_views, "BADGE_CAP", 30)
    monkeypatch.setattr(support_views, "PAGE_SIZE", 10)
    for n in range(32):
        IncidentFactory(service=service, initiator=initiator, title=f"Printer {n} jams")
    IncidentFactory(service=service, initiator=initiator, title="VPN drops")
    client.force_login(support_user)

    html = client.get(QUEUE, {"q": "printer"}).content.decode()
    assert "1\u201310 of more than 30 (refine the search)" in html
    assert "Page 1 of 4+" in html
    assert 'data-count="queue">30+<' in html
    assert len(rows(client.get(QUEUE, {"q": "printer", "page": 2}))) == 10

    # Under the cap the total is exact; without a search it always is.
    # Under the cap a search's total is exact ("Printer 1" and "Printer 10" to "19").
    html = client.get(QUEUE, {"q": "printer 1"}).content.decode()
    assert "1\u201310 of 11<" in html and "Page 1 of 2<" in html
    # Without a search the total is always exact.
    html = client.get(QUEUE).content.decode()
    assert "1\u201310 of 33<" in html and "Page 1 of 4<" in html


def test_my_decision_stays_in_recently_decided_after_the_incident_moves_on(
    client, support_user, desk, service, initiator
):
    """Escalating hands the incident to the next level's group; the desk still sees what it
    decided. Someone else's decision on another group's incident stays out."""
    mine = IncidentFactory(service=service, initiator=initiator)
    escalation_escalate(
        escalation=escalation_request(incident=mine, actor=initiator, reason="Still down"),
        actor=support_user, reason="P2 and half the target gone",
    )  # fmt: skip
    mine.refresh_from_db()
    assert mine.assignment_group_id != desk.pk  # it moved on
    elsewhere = SupportGroup.objects.create(name="Elsewhere", level=2)
    theirs = IncidentFactory(service=service, initiator=initiator)
    Incident.objects.filter(pk=theirs.pk).update(assignment_group=elsewhere)
    escalation_reject(
        escalation=escalation_request(incident=theirs, actor=initiator, reason="Hurry"),
        actor=UserFactory(roles=[FIRST_LEVEL_SUPPORT]), reason="Within targets",
    )  # fmt: skip
    client.force_login(support_user)
    decided = client.get(QUEUE, {"tab": "decided"})
    assert rows(decided) == [mine.number]
    assert 'data-count="decided">1<' in decided.content.decode()


def _seed(count: int, *, service, initiator, support_user) -> None:
    for n in range(count):
        incident = IncidentFactory(service=service, initiator=initiator, impact=1 + n % 3,
                                   urgency=1 + n % 2)  # fmt: skip
        if n % 5 == 0:
            escalation_flag_imminent(incident=incident, actor=support_user, reason="warning")
        elif n % 5 == 1:
            escalation_request(incident=incident, actor=initiator, reason="please")
        elif n % 5 == 2:
            escalation_reject(
                escalation=escalation_request(incident=incident, actor=initiator, reason="x"),
                actor=support_user, reason="no",
            )  # fmt: skip


@pytest.mark.parametrize("count", [10, 200])
@pytest.mark.parametrize("tab", ["queue", "imminent", "entitlement", "decided"])
def test_every_tab_runs_the_same_few_queries_at_10_and_200_incidents(
    client, support_user, desk, service, initiator, count, tab, django_assert_max_num_queries
):
    _seed(count, service=service, initiator=initiator, support_user=support_user)
    client.force_login(support_user)
    with django_assert_max_num_queries(12):
        response = client.get(QUEUE, {"tab": tab})
    assert response.status_code == 200
    assert rows(response)
    with django_assert_max_num_queries(12):
        assert client.get(QUEUE, {"tab": tab, "page": 2}, HTTP_HX_REQUEST="true").status_code == 200


def test_the_total_counts_exactly_the_matching_open_incidents_of_the_group(
    client, support_user, desk, service, initiator
):
    printers = [
        IncidentFactory(service=service, initiator=initiator, title=f"Printer {n} offline")
        for n in range(27)
    ]
    others = [IncidentFactory(service=service, initiator=initiator) for _ in range(2)]
    closed = [IncidentFactory(service=service, initiator=initiator, title="Printer fixed")
              for _ in range(3)]  # fmt: skip
    Incident.objects.filter(pk__in=[i.pk for i in closed]).update(status=Incident.Status.CLOSED)
    elsewhere = SupportGroup.objects.create(name="Elsewhere", level=1)
    away = IncidentFactory(service=service, initiator=initiator, title="Printer elsewhere")
    Incident.objects.filter(pk=away.pk).update(assignment_group=elsewhere)
    client.force_login(support_user)

    html = client.get(QUEUE).content.decode()
    assert "1\N{EN DASH}25 of 29" in html
    first = client.get(QUEUE, {"q": "PRINTER"})
    assert "1\N{EN DASH}25 of 27" in first.content.decode()
    assert len(rows(client.get(QUEUE, {"q": "printer", "page": 2}))) == 2
    # A number typed in small letters, whole or its end, finds the incident.
    assert rows(client.get(QUEUE, {"q": others[0].number.lower()})) == [others[0].number]
    assert rows(client.get(QUEUE, {"q": printers[0].number[-4:].lower()}))[0].endswith(
        printers[0].number[-4:]
    )
    # Sorting from a searched page keeps the search and starts again at page 1.
    head = client.get(QUEUE, {"q": "printer", "page": 2}).content.decode()
    assert 'href="?q=printer&amp;sort=number"' in head


def test_search_takes_wildcards_literally_and_bad_pages_fall_back(client, support_user, desk,
                                                                  service, initiator):  # fmt: skip
    full = IncidentFactory(service=service, initiator=initiator, title="Disk 100% full")
    IncidentFactory(service=service, initiator=initiator, title="Disk 1000 errors")
    IncidentFactory(service=service, initiator=initiator, title="Mail_box quota")
    client.force_login(support_user)
    assert rows(client.get(QUEUE, {"q": "100%"})) == [full.number]
    assert rows(client.get(QUEUE, {"q": "Dis_"})) == []  # "_" is not "any character"
    assert len(rows(client.get(QUEUE, {"q": "l_b"}))) == 1
    assert rows(client.get(QUEUE, {"q": "%"})) == [full.number]
    # A page beyond the last shows the last; a page that is not a number shows the first.
    assert len(rows(client.get(QUEUE, {"page": 999}))) == 3
    assert len(rows(client.get(QUEUE, {"page": "x"}))) == 3


def test_a_row_shows_title_service_assignee_and_state_with_the_title_escaped(
    client, support_user, desk, service, initiator
):
    odd = IncidentFactory(service=service, initiator=initiator, title="<b>Printer</b> & scanner")
    Incident.objects.filter(pk=odd.pk).update(  # set-up: on hold, with Sam
        status=Incident.Status.ON_HOLD, assignee=support_user
    )
    late = age(IncidentFactory(service=service, initiator=initiator, impact=1, urgency=1), 275)
    client.force_login(support_user)
    html = client.get(QUEUE).content.decode()
    row = html[html.index(f'data-number="{odd.number}"') :].split("</tr>", 1)[0]
    assert "&lt;b&gt;Printer&lt;/b&gt; &amp; scanner" in row and "<b>Printer" not in html
    assert f'href="{reverse("incident-detail", args=[odd.number])}"' in row
    assert service.name in row and support_user.get_full_name() in row
    assert '<span class="badge text-bg-light border">on hold</span>' in row
    assert f'<tr class="row-breached" data-number="{late.number}">' in html
    assert f'<tr class="" data-number="{odd.number}">' in html


def test_an_empty_queue_says_whether_the_filters_or_the_day_emptied_it(
    client, support_user, desk, service, initiator
):
    client.force_login(support_user)
    assert "Calm day" in client.get(QUEUE).content.decode()
    IncidentFactory(service=service, initiator=initiator, title="Printer jam")
    html = client.get(QUEUE, {"q": "zzz-no-match"}).content.decode()
    assert "No open incident matches these filters" in html and "Calm day" not in html
    assert "Clear the filters" in html
