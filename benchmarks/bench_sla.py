"""SLA monitor with 100,000 open incidents on PostgreSQL: run time and query count when
nothing is due and when 1,000 incidents crossed a threshold.

Targets (issue 5): <= 10 queries and <= 50 ms when none is due; <= 2 s for 1,000 due.
Runs in a child process on its own database `bench_sla`, created and dropped here, so it
never touches a developer's or another benchmark's data.
"""

import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
# Its own name per checkout when several run at once (BENCH_SLA_DB).
DB_NAME = os.environ.get("BENCH_SLA_DB", "bench_sla")
OPEN_INCIDENTS = 100_000
DUE = 1_000


def main() -> None:
    env = {
        **os.environ,
        "DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}",
        "DJANGO_SETTINGS_MODULE": "escalation_portal.settings",
        "SECRET_KEY": "benchmark-only",
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-m", "benchmarks.bench_sla", "--child"], env=env, check=True)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(sql)


def _seed(now) -> None:
    from django.db import connection

    from incidents.models import Service
    from incidents.roles import FIRST_LEVEL_SUPPORT
    from tests.factories import UserFactory

    initiator = UserFactory(username="bench-initiator")
    UserFactory(username="bench-support", roles=[FIRST_LEVEL_SUPPORT])
    service = Service.objects.create(name="Bench service")
    with connection.cursor() as cursor:
        # Set-based, in SQL: 100k incidents in a second or two instead of minutes.
        cursor.execute(
            """
            INSERT INTO incidents_incident (
                number, title, description, initiator_id, service_id, impact, urgency,
                priority, status, support_level, is_major, response_due, resolution_due,
                responded_at, paused_seconds, resolution_note, last_progress_at, created_at,
                updated_at)
            SELECT 'INC' || lpad(g::text, 7, '0'), 'Bench incident ' || g, 'Generated', %s, %s,
                   1 + g %% 3, 1 + (g / 3) %% 3, 1 + g %% 5, 'in_progress', 1, false,
                   %s, %s + (g %% 1000) * interval '1 minute', %s, 0, '', %s, %s, %s
            FROM generate_series(1, %s) AS g
            """,
            [initiator.pk, service.pk, now, now + timedelta(hours=2), now, now, now, now,
             OPEN_INCIDENTS],
        )  # fmt: skip
        # One running resolution clock each, its next threshold between 1 h and 17 h ahead.
        cursor.execute(
            """
            INSERT INTO incidents_slaclock (incident_id, timer, state, target_seconds, due_at,
                                            next_check_at, schedule, updated_at)
            SELECT id, 'resolution', 'running', 14400, resolution_due,
                   %s + interval '1 hour' + (id %% 1000) * interval '1 minute',
                   jsonb_build_object('50', to_char((%s + interval '1 hour'
                       + (id %% 1000) * interval '1 minute') AT TIME ZONE 'UTC',
                       'YYYY-MM-DD"T"HH24:MI:SS+00:00')),
                   %s
            FROM incidents_incident
            """,
            [now, now, now],
        )
        cursor.execute("ANALYZE")


def _run(now):
    from django.db import connection

    from incidents.services.sla_monitor import sla_monitor_run

    count = [0]

    def counter(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        report = sla_monitor_run(now=now)
        elapsed = time.perf_counter() - started
    return report, elapsed, count[0]


def child() -> None:
    _admin(f"DROP DATABASE IF EXISTS {DB_NAME}")
    _admin(f"CREATE DATABASE {DB_NAME}")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.utils import timezone

        from incidents.models import Escalation, Incident, SLAClock

        call_command("migrate", verbosity=0)
        now = timezone.now().replace(microsecond=0)
        started = time.perf_counter()
        _seed(now)
        print(f"seeded {Incident.objects.open().count():,} open incidents "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip

        _run(now)  # warm the connection and caches, as a long-running worker is
        runs = [_run(now) for _ in range(20)]
        times = [elapsed for _, elapsed, _ in runs]
        print(
            f"none due:   {runs[0][2]} queries, median {statistics.median(times) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms over {len(runs)} runs (target <= 10, <= 50 ms)"
        )

        due_ids = list(Incident.objects.order_by("pk").values_list("pk", flat=True)[:DUE])
        Incident.objects.filter(pk__in=due_ids).update(priority=1)  # P1: alert at any hour
        past = now - timedelta(minutes=1)
        SLAClock.objects.filter(incident_id__in=due_ids).update(
            next_check_at=past, schedule={"50": past.isoformat()}
        )
        report, elapsed, queries = _run(now)
        opened = Escalation.objects.filter(state=Escalation.State.IMMINENT).count()
        print(
            f"{DUE:,} due: {queries:,} queries ({queries / DUE:.1f} per incident), "
            f"{elapsed:.2f} s (target <= 2 s); fired {len(report.fired):,}, "
            f"imminent escalations opened {opened:,}"
        )
        report, elapsed, queries = _run(now)
        print(f"after:      {queries} queries, {elapsed * 1000:.1f} ms, fired {len(report.fired)}")
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("BENCH_KEEP"):
            _admin(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
