"""Two monitor runs at the same moment (two beat hosts, or a retried task) send once."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from incidents.models import Reminder
from incidents.services.reminders import reminders_run
from tests.deescalation.conftest import T0, told

pytestmark = pytest.mark.postgres


def test_two_concurrent_runs_send_each_reminder_once(
    postgres, deescalating, support_user, manager_user
):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(reminders_run())
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    # Activity due at T0 + 1 h and the P2 update due at T0 + 4 h: both are due now.
    with time_machine.travel(T0 + timedelta(hours=4, minutes=1), tick=False):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert sorted(r.activities_overdue for r in results) == [0, 1]
    assert sorted(r.updates_due for r in results) == [0, 1]
    assert Reminder.objects.count() == 2
    assert len(told(support_user, "activity_overdue")) == 1
    assert len(told(manager_user, "update_due")) == 1
