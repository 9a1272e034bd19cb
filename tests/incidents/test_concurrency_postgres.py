"""Races on PostgreSQL's real row locks: many people acting on one thing at the same moment.

SQLite serialises writers and would hide every race here, so these tests need PostgreSQL
(the `postgres` fixture skips without it, and fails in CI). Each thread opens its own
database connection and closes it at the end; a barrier starts them together.
"""

import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.db import connections

from incidents.models import Escalation, Incident, TimelineEntry
from incidents.services.escalations import escalation_escalate, escalation_request
from notifications.models import Notification

from .states import escalation_in, incident_in, report

S = Escalation.State


def _at_once(
    count: int, act: Callable[[Any], Any], prepare: Callable[[int], Any] = lambda i: i
) -> list[tuple[str, Any]]:
    """Run `act(prepare(i))` in `count` threads released together; (outcome, value) each."""
    barrier = threading.Barrier(count, timeout=30)
    outcomes: list[tuple[str, Any]] = [("did not run", None)] * count

    def run(i: int) -> None:
        try:
            prepared = prepare(i)  # what the user's page loaded, before they click
            barrier.wait()
            outcomes[i] = ("ok", act(prepared))
        except Exception as exc:
            outcomes[i] = (type(exc).__name__, exc)
        finally:
            connections.close_all()  # this thread's connections only

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return outcomes


def test_fifty_people_escalating_one_request_make_one_escalation(postgres, cast):
    case = escalation_in(S.REQUESTED, cast)
    level_before = Incident.objects.get(pk=case.incident_id).support_level

    outcomes = _at_once(
        50,
        prepare=lambda i: Escalation.objects.get(pk=case.pk),
        act=lambda page: escalation_escalate(
            escalation=page, actor=cast.support, reason="Close to breach", seen_state=page.state
        ),
    )

    kinds = Counter(kind for kind, _ in outcomes)
    assert kinds == {"ok": 1, "IncidentChanged": 49}, kinds
    assert {str(exc) for kind, exc in outcomes if kind != "ok"} == {
        "This incident changed while you were looking. Here is where it stands now."
    }
    case = Escalation.objects.get(pk=case.pk)
    assert (case.state, case.level) == (S.ESCALATED, 1)
    assert TimelineEntry.objects.filter(escalation=case, action="escalate").count() == 1
    # The functional escalation ran once: one assignment row, one level up.
    incident = Incident.objects.get(pk=case.incident_id)
    assert incident.support_level == level_before + 1
    assert incident.timeline.filter(kind=TimelineEntry.Kind.ASSIGNMENT).count() == 1
    rows = Notification.objects.filter(event="escalation_escalated")
    per_recipient = Counter((n.recipient.username, n.channel) for n in rows)
    assert per_recipient == {
        (user, channel): 1 for user in ("ivy", "mia", "max") for channel in ("email", "in_app")
    }


def test_incidents_reported_at_the_same_moment_never_share_a_number(postgres, cast):
    outcomes = _at_once(25, act=lambda i: report(cast, title=f"Printer {i} on fire").number)

    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    numbers = [number for _, number in outcomes]
    assert len(set(numbers)) == 25
    assert all(re.fullmatch(r"INC\d{7}", number) for number in numbers)
    assert sorted(numbers) == sorted(Incident.objects.values_list("number", flat=True))


def test_two_people_asking_at_once_open_one_case(postgres, cast):
    incident = incident_in(Incident.Status.IN_PROGRESS, cast)
    askers = [cast.initiator, cast.support]

    outcomes = _at_once(
        2,
        act=lambda asker: escalation_request(incident=incident, actor=asker, reason="Still down"),
        prepare=lambda i: askers[i],
    )

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds[1] == "ok" and kinds[0] in ("ActionRefused", "IncidentChanged"), outcomes
    (refusal,) = [exc for kind, exc in outcomes if kind != "ok"]
    assert refusal.message in (
        "An escalation is already under way: awaiting entitlement check.",
        "This incident already has an active escalation.",
    )
    (case,) = Escalation.objects.filter(incident=incident)
    assert case.state == S.REQUESTED
    assert TimelineEntry.objects.filter(escalation=case, action="request").count() == 1
    # Whoever won, the other one is told (in-app and e-mail), once; an initiator who won
    # also gets the receipt for her own request, support who won gets nothing.
    (winner,) = [value for kind, value in outcomes if kind == "ok"]
    told = Notification.objects.filter(event="escalation_requested")
    other = told.exclude(recipient=winner.raised_by)
    assert sorted(other.values_list("channel", flat=True)) == ["email", "in_app"]
    receipt = ["email", "in_app"] if winner.raised_by == cast.initiator else []
    assert sorted(told.filter(recipient=winner.raised_by).values_list("channel", flat=True)) == (
        receipt
    )
