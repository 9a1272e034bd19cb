"""Page render times and query counts at 1,000 and 100,000 incidents, SQLite and PostgreSQL.

`make bench` (or `python -m benchmarks bench_pages`). Each backend runs in a child process
with its own database: a SQLite file under var/bench, and a PostgreSQL database
`bench_pages` that this script creates and drops. Incidents are seeded with bulk_create
(10 % open), measured at 1k, topped up to 100k and measured again.

Targets (issue 3): the same query count at 1k and 100k; median at 100k <= 1.2x the median
at 1k; the support queue at 100k <= 40 ms median on PostgreSQL.

Other pages join by appending to PAGES: a name, the user who looks, and a function that
returns the URL from the seeded `Fixture` (plus optional extra headers).
"""

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DB = "bench_pages"
SIZES = (1_000, 100_000)
REQUESTS = 25
WARMUP = 3
OPEN_SHARE = 0.10


@dataclass
class Fixture:
    """What the seed made, for pages to build their URLs from."""

    users: dict[str, int] = field(default_factory=dict)
    incident_number: str = ""  # an open, escalated incident with a timeline
    requested_case: int = 0  # a case waiting for the entitlement check


@dataclass(frozen=True)
class Page:
    name: str
    user: str  # key into Fixture.users: "support", "manager", "operations", "initiator"
    url: Callable[[Fixture], str]
    headers: dict[str, str] = field(default_factory=dict)


PAGES: list[Page] = [
    Page("support queue", "support", lambda f: "/support/"),
    Page(
        "support queue, htmx refresh",
        "support",
        lambda f: "/support/?page=2",
        {"HTTP_HX_REQUEST": "true"},
    ),
    Page("support: imminent tab", "support", lambda f: "/support/?tab=imminent"),
    Page("support: entitlement tab", "support", lambda f: "/support/?tab=entitlement"),
    Page("support: recently decided", "support", lambda f: "/support/?tab=decided"),
    Page("support queue, P1 filter + sort", "support", lambda f: "/support/?priority=1&sort=-age"),
    Page("support queue, search", "support", lambda f: "/support/?q=printer"),
    Page(
        "entitlement check", "support", lambda f: f"/support/escalations/{f.requested_case}/check/"
    ),
    Page("incident page (staff)", "support", lambda f: f"/incidents/{f.incident_number}/"),
    # The incident manager board, the IT operations queue and the initiator pages are
    # appended here by their own branch.
]


# --- the child: one backend ----------------------------------------------------------


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_portal.settings_test")
    os.environ.setdefault("VAR_DIR", str(VAR))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # allows the test client's host; keeps mail in memory


def _seed(*, start: int, count: int, fixture: Fixture) -> None:
    """Add `count` incidents (numbers start+1...), 10 % open, with cases and timelines."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from incidents.models import (
        Escalation,
        Incident,
        PreventionAction,
        Service,
        SupportGroup,
        TimelineEntry,
    )
    from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS, IT_OPERATIONS

    rng = random.Random(start)
    now = timezone.now()
    if not fixture.users:
        groups = [
            SupportGroup.objects.get_or_create(name=name, defaults={"level": level})[0]
            for name, level in (("Service desk", 1), ("Application support", 2),
                                ("Platform engineering", 3))
        ]  # fmt: skip
        people = {}
        for key, role in (("support", FIRST_LEVEL_SUPPORT), ("manager", INCIDENT_MANAGERS),
                          ("operations", IT_OPERATIONS), ("initiator", None)):  # fmt: skip
            user = User.objects.create_user(f"bench-{key}", f"{key}@example.com", "x")
            if role:
                user.groups.add(Group.objects.get(name=role))
            people[key] = user.pk
        groups[0].members.add(people["support"])
        fixture.users = people
        for n in range(12):
            Service.objects.create(name=f"Service {n}", tier=1 + n % 3, default_group=groups[n % 3])
    groups = list(SupportGroup.objects.order_by("level"))
    service_ids = list(Service.objects.values_list("pk", flat=True))
    initiators = [fixture.users["initiator"]]
    staff = [fixture.users["support"], fixture.users["manager"], None]
    targets = {1: 240, 2: 480, 3: 1440, 4: 4320, 5: 10080}
    words = ["Mail", "VPN", "Printer", "ERP", "Wi-Fi", "Laptop", "Portal", "Database"]

    incidents = []
    for n in range(start + 1, start + count + 1):
        is_open = rng.random() < OPEN_SHARE
        priority = rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5])
        created = now - (timedelta(minutes=rng.randint(5, 3 * 24 * 60)) if is_open
                         else timedelta(days=rng.uniform(8, 720)))  # fmt: skip
        status = (rng.choice(["new", "in_progress", "in_progress", "on_hold"]) if is_open
                  else rng.choice(["closed", "closed", "resolved", "cancelled"]))  # fmt: skip
        incidents.append(Incident(
            number=f"INC{n:07d}", title=f"{rng.choice(words)} problem number {n}",
            description="Seeded for the page benchmark.", initiator_id=initiators[0],
            service_id=rng.choice(service_ids), impact=2, urgency=2, priority=priority,
            status=status, assignment_group=rng.choice(groups), assignee_id=rng.choice(staff),
            response_due=created + timedelta(minutes=targets[priority] // 8),
            resolution_due=created + timedelta(minutes=targets[priority]),
            responded_at=None if status == "new" else created + timedelta(minutes=5),
            on_hold_since=now - timedelta(minutes=30) if status == "on_hold" else None,
            resolved_at=None if is_open else created + timedelta(hours=3),
            closed_at=created + timedelta(hours=30) if status == "closed" else None,
            last_progress_at=created + timedelta(minutes=rng.randint(0, 240)),
            created_at=created,
        ))  # fmt: skip
    Incident.objects.bulk_create(incidents, batch_size=2000)
    rows = list(
        Incident.objects.filter(
            number__gt=f"INC{start:07d}", number__lte=f"INC{start + count:07d}"
        ).values_list("pk", "status", "created_at")
    )
    cases, entries = [], []
    for pk, status, created in rows:
        entries.append(TimelineEntry(incident_id=pk, kind="reported", machine="incident",
                                     to_state="new", note="Reported.", public=True,
                                     created_at=created))  # fmt: skip
        roll = rng.random()
        if status in Incident.OPEN_STATUSES and roll < 0.3:
            state = rng.choice(["imminent", "requested", "escalated", "major", "deescalating"])
            level = 0 if state in ("imminent", "requested") else 1
            cases.append(Escalation(
                incident_id=pk, state=state, source="initiator", reason="Slow",
                created_at=created, requested_at=created, level=level,
            ))  # fmt: skip
        elif roll < 0.05:
            state = rng.choice(["rejected", "avoided", "deescalated"])
            decided = (now - timedelta(days=rng.uniform(0, 3)) if status in Incident.OPEN_STATUSES
                       else created + timedelta(hours=2))  # fmt: skip
            cases.append(Escalation(incident_id=pk, state=state, source="initiator", reason="Slow",
                                    created_at=created, decided_at=decided, ended_at=decided,
                                    decision_reason="Decided in the benchmark."))  # fmt: skip
    Escalation.objects.bulk_create(cases, batch_size=2000)
    new_cases = list(
        Escalation.objects.filter(incident__number__gt=f"INC{start:07d}").values_list(
            "pk", "incident_id", "state", "created_at"
        )
    )
    prevention = []
    for case_pk, incident_pk, state, created in new_cases:
        entries.append(TimelineEntry(incident_id=incident_pk, escalation_id=case_pk,
                                     kind="transition", machine="escalation", action="request",
                                     to_state="requested", note="Asked.", public=True,
                                     created_at=created + timedelta(minutes=1)))  # fmt: skip
        if state == "imminent":
            prevention.append(PreventionAction(escalation_id=case_pk, kind="note", note="Watching",
                                               actor_id=fixture.users["support"]))  # fmt: skip
    TimelineEntry.objects.bulk_create(entries, batch_size=5000)
    PreventionAction.objects.bulk_create(prevention, batch_size=2000)
    if not fixture.incident_number:
        case = Escalation.objects.filter(state="escalated").select_related("incident").first()
        fixture.incident_number = case.incident.number
        fixture.requested_case = (
            Escalation.objects.filter(state="requested").values_list("pk", flat=True).first()
        )


def _measure(fixture: Fixture) -> dict[str, dict[str, Any]]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    results = {}
    clients: dict[str, Client] = {}
    for page in PAGES:
        client = clients.get(page.user)
        if client is None:
            client = clients[page.user] = Client()
            client.force_login(User.objects.get(pk=fixture.users[page.user]))
        url = page.url(fixture)
        for _ in range(WARMUP):
            response = client.get(url, **page.headers)
            assert response.status_code == 200, (page.name, response.status_code)
        queries: list[str] = []

        def count(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        # An execute wrapper, not CaptureQueriesContext: request_started resets that log.
        with connection.execute_wrapper(count):
            client.get(url, **page.headers)
        times = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            client.get(url, **page.headers)
            times.append((time.perf_counter() - started) * 1000)
        results[page.name] = {"median_ms": statistics.median(times), "queries": len(queries)}
    return results


def child(backend: str) -> None:
    _setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    fixture = Fixture()
    out: dict[str, Any] = {"backend": backend, "sizes": {}}
    done = 0
    for size in SIZES:
        started = time.perf_counter()
        _seed(start=done, count=size - done, fixture=fixture)
        done = size
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        seeded = time.perf_counter() - started
        out["sizes"][str(size)] = {"seed_s": seeded, "pages": _measure(fixture)}
    print("RESULT " + json.dumps(out), flush=True)


# --- the parent: both backends, then the table ----------------------------------------


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _run_child(backend: str, database_url: str) -> dict[str, Any] | None:
    env = dict(os.environ, DATABASE_URL=database_url, VAR_DIR=str(VAR))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_pages", "--child", backend],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    print(f"{backend}: the benchmark failed\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return None


def _report(result: dict[str, Any]) -> list[str]:
    small, large = (result["sizes"][str(s)] for s in SIZES)
    print(f"\n{result['backend']}: seeded 1k in {small['seed_s']:.1f} s, "
          f"topped up to 100k in {large['seed_s']:.1f} s")  # fmt: skip
    print(f"  {'page':34} {'1k ms':>8} {'100k ms':>8} {'ratio':>6} {'q 1k':>5} {'q 100k':>6}")
    misses = []
    for name, at_1k in small["pages"].items():
        at_100k = large["pages"][name]
        ratio = at_100k["median_ms"] / at_1k["median_ms"]
        print(f"  {name:34} {at_1k['median_ms']:8.1f} {at_100k['median_ms']:8.1f} {ratio:6.2f}"
              f" {at_1k['queries']:5d} {at_100k['queries']:6d}")  # fmt: skip
        if at_1k["queries"] != at_100k["queries"]:
            misses.append(f"{result['backend']} {name}: query count changes with size")
        if ratio > 1.2:
            misses.append(f"{result['backend']} {name}: 100k is {ratio:.2f}x the 1k median")
    if result["backend"] == "postgresql":
        queue = large["pages"]["support queue"]["median_ms"]
        if queue > 40:
            misses.append(f"postgresql support queue at 100k: {queue:.1f} ms > 40 ms")
    return misses


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    sqlite_file = VAR / "bench_pages.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    results = [_run_child("sqlite", f"sqlite:///{sqlite_file}")]
    try:
        _pg(f"DROP DATABASE IF EXISTS {PG_DB}")
        _pg(f"CREATE DATABASE {PG_DB}")
    except Exception as exc:  # no server on this machine: report SQLite alone
        print(f"PostgreSQL not available ({exc}); skipping it.")
    else:
        try:
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            results.append(_run_child("postgresql", f"{base}/{PG_DB}"))
        finally:
            _pg(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    misses = []
    for result in results:
        if result:
            misses += _report(result)
    print("\nTargets: " + ("all met." if not misses else "MISSED:\n  " + "\n  ".join(misses)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
