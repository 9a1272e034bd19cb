"""Concurrency on PostgreSQL's real row locks: two monitors, and a monitor racing a person."""

import importlib
import threading
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.utils import timezone

from incidents.models import (
    Escalation,
    EscalationProcedure,
    Incident,
    PriorityRule,
    SLAClock,
    SLAPolicy,
    SLAThresholdCrossing,
)
from incidents.roles import FIRST_LEVEL_SUPPORT, ROLE_PERMISSIONS
from incidents.services.incidents import incident_report, incident_resolve, incident_start_work
from incidents.services.sla_monitor import sla_monitor_run

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres(postgres):
    """A transactional test's flush also removes the data migrations' rows (roles, priority
    matrix, policies, calendars); whatever ran before us may have flushed them: re-seed."""
    if not Group.objects.filter(name=FIRST_LEVEL_SUPPORT).exists():
        reference = importlib.import_module("incidents.migrations.0002_reference_data")
        for role, codenames in ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=role)
            group.permissions.set(
                Permission.objects.filter(
                    content_type__app_label="incidents", codename__in=codenames
                )
            )
        for (impact, urgency), priority in reference.MATRIX.items():
            PriorityRule.objects.get_or_create(impact=impact, urgency=urgency, priority=priority)
        for priority, (response, resolution) in reference.SLA_TARGETS.items():
            SLAPolicy.objects.get_or_create(
                priority=priority,
                defaults={"response_minutes": response, "resolution_minutes": resolution},
            )
        for priority in range(1, 6):
            EscalationProcedure.objects.get_or_create(priority=priority)
        importlib.import_module("incidents.migrations.0005_sla_defaults").seed(django_apps, None)
    return postgres


def _p1(initiator, service, support_user, age: timedelta) -> Incident:
    incident = incident_report(
        initiator=initiator, title="Core switch", description="Down", service=service,
        impact=1, urgency=1,
    )  # fmt: skip
    incident_start_work(incident=incident, actor=support_user)
    # Backdate the whole history, as if it had been reported `age` ago.
    incident.sla_events.update(at=timezone.now() - age)
    from incidents.sla import sla_sync

    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        sla_sync(incident=locked)
    return incident


def _in_thread(target, results, key):
    def run():
        try:
            results[key] = target()
        except Exception as exc:  # surfaced by the assertions below
            results[key] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_two_monitor_runs_at_once_open_one_escalation(postgres, initiator, support_user, service):
    incidents = [_p1(initiator, service, support_user, timedelta(minutes=130)) for _ in range(20)]
    start = threading.Barrier(2)
    results: dict = {}

    def run():
        start.wait()
        return sla_monitor_run()

    threads = [_in_thread(run, results, key) for key in ("a", "b")]
    for thread in threads:
        thread.join(30)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    fired = results["a"].fired + results["b"].fired
    assert len(fired) == len(incidents)  # each 50 % threshold fired by exactly one run
    assert Escalation.objects.filter(state=Escalation.State.IMMINENT).count() == len(incidents)
    assert SLAThresholdCrossing.objects.count() == len(incidents)


def test_the_unique_constraint_stops_a_second_firing(postgres, initiator, support_user, service):
    incident = _p1(initiator, service, support_user, timedelta(minutes=130))
    sla_monitor_run()
    # A stale copy of the schedule (as a crashed or duplicated run would have).
    SLAClock.objects.filter(incident=incident, timer="resolution").update(
        next_check_at=timezone.now() - timedelta(minutes=10),
        schedule={"50": (timezone.now() - timedelta(minutes=10)).isoformat()},
    )
    report = sla_monitor_run()
    assert report.fired == []
    assert Escalation.objects.filter(incident=incident).count() == 1


def test_a_monitor_racing_a_persons_resolve_never_escalates_it(
    postgres, initiator, support_user, service
):
    incident = _p1(initiator, service, support_user, timedelta(minutes=250))  # breached
    holding = threading.Event()
    release = threading.Event()
    results: dict = {}

    def person():
        with transaction.atomic():
            resolved = incident_resolve(incident=incident, actor=support_user, note="Replaced")
            holding.set()  # the row is locked; the resolve is not committed yet
            release.wait(10)
            return resolved

    thread = _in_thread(person, results, "person")
    assert holding.wait(10)
    during = sla_monitor_run()  # the person holds the lock: the monitor skips, not waits
    release.set()
    thread.join(10)
    after = sla_monitor_run()
    assert during.skipped_locked == 1 and during.fired == []
    assert after.fired == []
    assert Incident.objects.get(pk=incident.pk).status == Incident.Status.RESOLVED
    assert not Escalation.objects.filter(incident=incident).exists()
