"""Page render times and query counts at 1,000 and 100,000 incidents, SQLite and PostgreSQL.

`make bench` (or `python -m benchmarks bench_pages`). Each size of each backend has its own
database (SQLite files under var/bench; PostgreSQL databases bench_pages_1000 and
bench_pages_100000, created and dropped here) and its own child process; the two sizes are
timed in alternation, request by request and page by page in rounds, so a shared
machine's changing load hits both alike.
Incidents are seeded with bulk_create, 10 % open (see `_seed` for what each page shows).

Targets (issue 3): the same query count at 1k and 100k; median at 100k <= 1.2x the median
at 1k; the support queue at 100k <= 40 ms median on PostgreSQL. The table also prints what
each page rendered: it must be the same at both sizes for the ratio to mean anything.

Other pages join by appending to PAGES: a name, the user who looks, a function that returns
the URL from the seeded `Fixture` (plus optional extra headers) and one that says, from the
template context, what the page shows.
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
# BENCH_SIZES=1000,10000 for a quick look while working; the targets are for the default.
SIZES = tuple(int(s) for s in os.environ.get("BENCH_SIZES", "1000,100000").split(","))
# Per page and size, one request of each size in turn, page after page in rounds: this
# machine's speed drifts by a fifth within seconds, and in chunks of requests a drift
# landed on one size or one page and moved its ratio from 1.0 to 1.3 with nothing changed.
REQUESTS = 40
ROUNDS = 40
WARMUP = 3
OPEN_SHARE = 0.10


@dataclass
class Fixture:
    """What the seed made, for pages to build their URLs from."""

    users: dict[str, int] = field(default_factory=dict)
    incident_number: str = ""  # an open incident being deescalated, with a plan and a timeline
    major_number: str = ""  # an open major incident
    requested_case: int = 0  # a case waiting for the entitlement check


def _paged(context: Any) -> str:
    return f"{len(context['page'].object_list)} rows"


def _board(context: Any) -> str:
    board = context["board"]
    lists = (board.waiting_for_plan, board.waiting_for_approval, board.deescalating, board.major)
    return f"{sum(len(rows) for rows in lists)} cases"


def _timeline(context: Any) -> str:
    return f"{len(context['timeline'])} timeline entries"


@dataclass(frozen=True)
class Page:
    name: str
    user: str  # key into Fixture.users: "support", "manager", "operations", "initiator"
    url: Callable[[Fixture], str]
    headers: dict[str, str] = field(default_factory=dict)
    # What the page shows, from its template context: the figure that must not change
    # between 1k and 100k for the ratio to mean anything.
    rows: Callable[[Any], str] = _paged


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
        "entitlement check",
        "support",
        lambda f: f"/support/escalations/{f.requested_case}/check/",
        rows=lambda c: f"1 case, {len(list(c['earlier']))} earlier",
    ),
    Page(
        "incident page (staff)",
        "support",
        lambda f: f"/incidents/{f.incident_number}/",
        rows=lambda c: f"{len(c['page'].timeline)} timeline entries",
    ),
    Page("IM board", "manager", lambda f: "/manager/", rows=_board),
    Page(
        "IM workspace",
        "manager",
        lambda f: f"/manager/incidents/{f.incident_number}/",
        rows=lambda c: f"{len(c['activities'])} activities, {len(c['timeline'])} entries",
    ),
    Page(
        "IT operations queue",
        "operations",
        lambda f: "/operations/",
        rows=lambda c: f"{len(c['cases'])} majors, {len(c['handed_over'])} handed over",
    ),
    Page(
        "IT operations workspace",
        "operations",
        lambda f: f"/operations/incidents/{f.major_number}/",
        rows=lambda c: f"{len(list(c['log']))} log, {len(c['timeline'])} entries",
    ),
    Page(
        "my activities",
        "support",
        lambda f: "/my/activities/",
        rows=lambda c: f"{len(c['open'])} open, {len(c['finished'])} finished",
    ),
    Page("my incidents", "initiator", lambda f: "/my/incidents/"),
    Page(
        "my incident (status page)",
        "initiator",
        lambda f: f"/my/incidents/{f.incident_number}/",
        rows=lambda c: f"{len(c['timeline'])} timeline entries",
    ),
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
    """Add `count` incidents (numbers start+1...), exactly 10 % open, with cases and timelines.

    The layout is deterministic so each page shows the same content at 1k and 100k:
    - every 10th incident is open; 60 % of the open ones belong to the support user's group,
      half of those are P1 and half (independently) have "Printer" in the title, so the
      priority filter and the search fill a page of 25 already at 1k;
    - live cases are seeded once, with the first 1,000, and the top-up adds only history
      (closed incidents with deescalated, rejected, avoided and cancelled cases, finished
      activities, handed-over majors): escalations are the exception, and at 100k a page
      must show what it showed at 1k. The group's first open incidents carry an imminent or
      a requested case and 2 in 5 a decision of the last week (the three support tabs
      fill a page); the others an escalated, plan-submitted, deescalating (with open
      activities) or major case, 10 of each, for the board and the operations queue, which
      do not paginate;
    - every 33rd incident is the bench initiator's (30 at 1k, a full page of 20).
    """
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from incidents.models import (
        DeescalationActivity,
        DeescalationPlan,
        Escalation,
        Incident,
        OperationsLog,
        PreventionAction,
        Service,
        SupportGroup,
        TimelineEntry,
    )
    from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS, IT_OPERATIONS

    S = Escalation.State
    rng = random.Random(start)
    now = timezone.now()
    first = not fixture.users
    if first:
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
        User.objects.bulk_create(
            [User(username=f"bench-reporter-{n}", password="!") for n in range(40)]
        )
        fixture.users = people
        for n in range(12):
            Service.objects.create(name=f"Service {n}", tier=1 + n % 3, default_group=groups[n % 3])
    users = fixture.users
    groups = list(SupportGroup.objects.order_by("level"))
    desk = groups[0]
    service_ids = list(Service.objects.values_list("pk", flat=True))
    reporters = list(
        User.objects.filter(username__startswith="bench-reporter-").values_list("pk", flat=True)
    )
    staff = [users["support"], users["manager"], None]
    targets = {1: 240, 2: 480, 3: 1440, 4: 4320, 5: 10080}
    words = ["Mail", "VPN", "ERP", "Wi-Fi", "Laptop", "Portal", "Database"]

    incidents, plan_of = [], {}  # plan_of: incident number -> live case state (first seed)
    for n in range(start + 1, start + count + 1):
        is_open = n % 10 == 0
        k = n // 10  # the open incident's own counter
        if is_open:
            group = desk if k % 5 < 3 else groups[1 + k % 2]
            priority = 1 if k % 2 == 0 else rng.choice([2, 3, 3, 4, 5])
            word = "Printer" if (k // 2) % 2 == 0 else rng.choice(words)
            created = now - timedelta(minutes=rng.randint(5, 3 * 24 * 60))
            status = rng.choice(["new", "in_progress", "in_progress", "on_hold"])
        else:
            group = rng.choice(groups)
            priority = rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5])
            word = rng.choice([*words, "Printer"])
            created = now - timedelta(days=rng.uniform(8, 720))
            status = rng.choice(["closed", "closed", "resolved", "cancelled"])
        incidents.append(Incident(
            number=f"INC{n:07d}", title=f"{word} problem number {n}",
            description="Seeded for the page benchmark.",
            initiator_id=users["initiator"] if n % 33 == 0 else rng.choice(reporters),
            service_id=rng.choice(service_ids), impact=2, urgency=2, priority=priority,
            status=status, assignment_group=group, assignee_id=rng.choice(staff),
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
        ).values_list("pk", "number", "status", "created_at", "assignment_group_id")
    )
    board_states = [S.ESCALATED, S.PLAN_SUBMITTED, S.DEESCALATING, S.MAJOR]
    cases, entries = [], []
    for pk, number, status, created, group_id in rows:
        n = int(number[3:])
        k = n // 10
        entries.append(TimelineEntry(incident_id=pk, kind="reported", machine="incident",
                                     to_state="new", note="Reported.", public=True,
                                     created_at=created))  # fmt: skip
        if status in Incident.OPEN_STATUSES:
            if group_id == desk.pk and first:
                state = S.IMMINENT if (k // 5) % 2 == 0 else S.REQUESTED
                cases.append(Escalation(
                    incident_id=pk, state=state, source="initiator", reason="Slow",
                    created_at=created, requested_at=created, level=0,
                ))  # fmt: skip
                if k % 5 in (0, 1):
                    decided = now - timedelta(days=rng.uniform(0, 6))
                    cases.append(Escalation(
                        incident_id=pk, state=rng.choice([S.REJECTED, S.AVOIDED]),
                        source="initiator", reason="Slow", created_at=created,
                        requested_at=created, decided_at=decided, ended_at=decided,
                        decided_by_id=users["support"], decision_reason="Decided in the bench.",
                    ))  # fmt: skip
            elif first:
                state = board_states[k % 4]
                plan_of[number] = state
                started = created + timedelta(minutes=30)
                cases.append(Escalation(
                    incident_id=pk, state=state, source="major" if state == S.MAJOR
                    else "initiator", kind="" if state == S.MAJOR else "hierarchical",
                    reason="Slow", created_at=created, requested_at=created, level=1,
                    decided_at=started, decided_by_id=users["support"],
                    escalated_at=None if state == S.MAJOR else started,
                    major_at=started if state == S.MAJOR else None,
                    acknowledged_at=started if state == S.MAJOR and k % 8 < 4 else None,
                    acknowledged_by_id=users["operations"]
                    if state == S.MAJOR and k % 8 < 4 else None,
                    deescalation_started_at=started + timedelta(hours=1)
                    if state == S.DEESCALATING else None,
                ))  # fmt: skip
        elif n % 20 == 1:
            # History: a closed incident's case, ended long ago (2 in 5 deescalated).
            state = [S.DEESCALATED, S.DEESCALATED, S.REJECTED, S.AVOIDED, S.CANCELLED][
                (n // 20) % 5
            ]
            decided = created + timedelta(hours=2)
            cases.append(Escalation(
                incident_id=pk, state=state, source="initiator", reason="Slow",
                kind="hierarchical" if state == S.DEESCALATED else "", level=1,
                created_at=created, requested_at=created, decided_at=decided,
                decided_by_id=users["support"], escalated_at=decided
                if state == S.DEESCALATED else None, deescalation_started_at=decided
                if state == S.DEESCALATED else None, ended_at=decided + timedelta(hours=5),
                decision_reason="Decided in the benchmark.",
            ))  # fmt: skip
    Escalation.objects.bulk_create(cases, batch_size=2000)
    new_cases = list(
        Escalation.objects.filter(
            incident__number__gt=f"INC{start:07d}", incident__number__lte=f"INC{start + count:07d}"
        ).values_list("pk", "incident_id", "state", "created_at", "decided_at")
    )
    prevention, plans, logs = [], [], []
    for case_pk, incident_pk, state, created, decided in new_cases:
        entries.append(TimelineEntry(
            incident_id=incident_pk, escalation_id=case_pk, kind="transition",
            machine="escalation", action="request", from_state="", to_state="requested",
            note="Asked.", public=True, created_at=created + timedelta(minutes=1),
        ))  # fmt: skip
        if state == S.IMMINENT:
            prevention.append(PreventionAction(escalation_id=case_pk, kind="note", note="Watching",
                                               actor_id=users["support"]))  # fmt: skip
        if state in (S.ESCALATED, S.PLAN_SUBMITTED, S.DEESCALATING, S.MAJOR, S.DEESCALATED):
            for minutes in (60, 120):
                entries.append(TimelineEntry(
                    incident_id=incident_pk, escalation_id=case_pk, kind="status_update",
                    note="We are on it.", public=True, actor_id=users["manager"],
                    created_at=decided + timedelta(minutes=minutes),
                ))  # fmt: skip
        if state in (S.PLAN_SUBMITTED, S.DEESCALATING, S.DEESCALATED) or (
            state == S.ESCALATED and case_pk % 2 == 0
        ):
            plans.append(DeescalationPlan(
                escalation_id=case_pk, author_id=users["manager"], summary="Fix it step by step.",
                submitted_at=None if state == S.ESCALATED else decided + timedelta(minutes=40),
                approved_at=decided + timedelta(minutes=50)
                if state in (S.DEESCALATING, S.DEESCALATED) else None,
                approved_by_id=users["manager"]
                if state in (S.DEESCALATING, S.DEESCALATED) else None,
                created_at=decided + timedelta(minutes=30),
            ))  # fmt: skip
        if state == S.MAJOR:
            logs.append(OperationsLog(escalation_id=case_pk, kind="action", note="Restarted.",
                                      actor_id=users["operations"],
                                      created_at=decided + timedelta(minutes=20)))  # fmt: skip
        if state == S.DEESCALATED and case_pk % 2 == 0:  # majors handed over in the past
            logs.append(OperationsLog(escalation_id=case_pk, kind="handed_over", note="Over.",
                                      actor_id=users["operations"],
                                      created_at=decided + timedelta(minutes=20)))  # fmt: skip
    TimelineEntry.objects.bulk_create(entries, batch_size=5000)
    PreventionAction.objects.bulk_create(prevention, batch_size=2000)
    OperationsLog.objects.bulk_create(logs, batch_size=2000)
    DeescalationPlan.objects.bulk_create(plans, batch_size=2000)
    new_plans = DeescalationPlan.objects.filter(
        escalation__incident__number__gt=f"INC{start:07d}",
        escalation__incident__number__lte=f"INC{start + count:07d}",
    ).values_list("pk", "escalation__state", "created_at")
    activities = []
    owners = [users["support"], users["manager"], users["operations"]]
    for plan_pk, state, created in new_plans:
        for position in range(4):
            due = (now + timedelta(hours=position * 2 - 3)) if state != S.DEESCALATED else (
                created + timedelta(hours=position + 1))  # fmt: skip
            done = state == S.DEESCALATED or (state == S.DEESCALATING and position == 0)
            activities.append(DeescalationActivity(
                plan_id=plan_pk, position=position, description=f"Step {position + 1}",
                owner_id=owners[(plan_pk + position) % 3], due_at=due,
                status="done" if done else "open",
                finished_at=due - timedelta(minutes=10) if done else None,
                finished_by_id=users["support"] if done else None,
            ))  # fmt: skip
    DeescalationActivity.objects.bulk_create(activities, batch_size=5000)
    if first:
        live = Escalation.objects.filter(incident__number__lte=f"INC{count:07d}")
        workspace = live.filter(state=S.DEESCALATING).order_by("pk").first()
        fixture.incident_number = workspace.incident.number
        fixture.major_number = live.filter(state=S.MAJOR).order_by("pk").first().incident.number
        fixture.requested_case = live.filter(state=S.REQUESTED).order_by("pk").first().pk
        # The detail pages show the same incident at both sizes, the initiator's own, with
        # a day's worth of progress notes and updates (the top-up adds none to it).
        Incident.objects.filter(number=fixture.incident_number).update(
            initiator_id=users["initiator"]
        )
        for number in (fixture.incident_number, fixture.major_number):
            pk = Incident.objects.get(number=number).pk
            TimelineEntry.objects.bulk_create([
                TimelineEntry(incident_id=pk, kind="progress" if i % 2 else "status_update",
                              note=f"Note {i}.", public=True, actor_id=users["manager"],
                              created_at=now - timedelta(minutes=30 * i))
                for i in range(1, 13)
            ])  # fmt: skip


class _Pages:
    """One child's side of the measurement: logged-in clients and the seeded fixture."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.clients: dict[str, Any] = {}

    def _client(self, page: Page) -> Any:
        from django.contrib.auth.models import User
        from django.test import Client

        client = self.clients.get(page.user)
        if client is None:
            client = self.clients[page.user] = Client()
            client.force_login(User.objects.get(pk=self.fixture.users[page.user]))
        return client

    def warm(self, page: Page) -> dict[str, Any]:
        """Warm up; return what the page shows and how many queries it runs."""
        from django.db import connection

        client, url = self._client(page), page.url(self.fixture)
        for _ in range(WARMUP):
            response = client.get(url, **page.headers)
            assert response.status_code == 200, (page.name, response.status_code)
        queries: list[str] = []

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        # An execute wrapper, not CaptureQueriesContext: request_started resets that log.
        with connection.execute_wrapper(count):
            client.get(url, **page.headers)
        return {"rows": page.rows(response.context), "queries": len(queries)}

    def time(self, page: Page, n: int) -> list[float]:
        client, url = self._client(page), page.url(self.fixture)
        times = []
        for _ in range(n):
            started = time.perf_counter()
            client.get(url, **page.headers)
            times.append((time.perf_counter() - started) * 1000)
        return times


def child(backend: str, size: int) -> None:
    """Seed `size` incidents, then answer the parent's commands on stdin, one JSON a line.

    The same seed at both sizes (the 100k database first gets the 1k set, then the top-up),
    so the 1k incidents and the fixture are the same rows in both databases."""
    _setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    fixture = Fixture()
    started = time.perf_counter()
    done = 0
    for step in SIZES:
        if step > size:
            break
        _seed(start=done, count=step - done, fixture=fixture)
        done = step
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print("READY " + json.dumps({"seed_s": time.perf_counter() - started}), flush=True)
    pages, by_name = _Pages(fixture), {page.name: page for page in PAGES}
    for line in sys.stdin:
        command = json.loads(line)
        page = by_name[command["page"]]
        answer = pages.warm(page) if command["do"] == "warm" else pages.time(page, command["n"])
        print("ANSWER " + json.dumps(answer), flush=True)


# --- the parent: both backends, then the table ----------------------------------------


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


class _Child:
    def __init__(self, backend: str, size: int, database_url: str) -> None:
        env = dict(os.environ, DATABASE_URL=database_url, VAR_DIR=str(VAR))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_pages", "--child", backend, str(size)],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def _read(self, tag: str) -> Any:
        for line in self.proc.stdout:
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1 :])
        raise RuntimeError(f"the benchmark child exited ({self.proc.wait()})")

    def ready(self) -> dict[str, Any]:
        return self._read("READY")

    def ask(self, **command: Any) -> Any:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read("ANSWER")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def _run_backend(backend: str, urls: tuple[str, str]) -> dict[str, Any]:
    """Both sizes at once, each in its own database and process, timed in alternation:
    the machine is shared, and a burst of load then slows 1k and 100k alike instead of
    landing on one of them and faking a ratio."""
    children = [_Child(backend, size, url) for size, url in zip(SIZES, urls, strict=True)]
    try:
        out: dict[str, Any] = {"backend": backend, "ok": True, "sizes": {}}
        for size, proc in zip(SIZES, children, strict=True):
            out["sizes"][str(size)] = {**proc.ready(), "pages": {}}
        figures = {page.name: [proc.ask(do="warm", page=page.name) for proc in children]
                   for page in PAGES}  # fmt: skip
        times: dict[str, list[list[float]]] = {page.name: [[], []] for page in PAGES}
        # Round after round over every page, so each page's requests spread over the whole
        # run: a few slow seconds then touch every page a little instead of one page a lot.
        for _ in range(ROUNDS):
            for page in PAGES:
                for index, proc in enumerate(children):
                    times[page.name][index] += proc.ask(
                        do="time", page=page.name, n=REQUESTS // ROUNDS
                    )
        for page in PAGES:
            for size, figure, own in zip(SIZES, figures[page.name], times[page.name], strict=True):
                figure["median_ms"] = statistics.median(own)
                out["sizes"][str(size)]["pages"][page.name] = figure
        return out
    except (RuntimeError, BrokenPipeError) as exc:
        print(f"{backend}: the benchmark failed: {exc}")
        return {"backend": backend, "ok": False}
    finally:
        for proc in children:
            proc.close()


def _report(result: dict[str, Any]) -> list[str]:
    small, large = (result["sizes"][str(s)] for s in SIZES)
    backend = result["backend"]
    print(f"\n{backend}: seeded {SIZES[0]:,} in {small['seed_s']:.1f} s, "
          f"{SIZES[1]:,} in {large['seed_s']:.1f} s")  # fmt: skip
    print(f"  {'page':32} {'rows rendered (both sizes)':34} {'q 1k':>5} {'q 100k':>6} "
          f"{'ms 1k':>7} {'ms 100k':>8} {'ratio':>6}  target")  # fmt: skip
    misses = []
    for name, at_1k in small["pages"].items():
        at_100k = large["pages"][name]
        ratio = at_100k["median_ms"] / at_1k["median_ms"]
        own = []
        if at_1k["queries"] != at_100k["queries"]:
            own.append("query count changes with size")
        if ratio > 1.2:
            own.append(f"100k is {ratio:.2f}x the 1k median")
        if backend == "postgresql" and name == "support queue" and at_100k["median_ms"] > 40:
            own.append(f"{at_100k['median_ms']:.1f} ms > 40 ms at 100k")
        rows = at_1k["rows"]
        if at_100k["rows"] != rows:
            rows = f"{rows} / {at_100k['rows']}"
            own.append("renders different content at 1k and 100k")
        print(f"  {name:32} {rows:34} {at_1k['queries']:5d} {at_100k['queries']:6d} "
              f"{at_1k['median_ms']:7.1f} {at_100k['median_ms']:8.1f} {ratio:6.2f}  "
              f"{'yes' if not own else 'NO'}")  # fmt: skip
        misses += [f"{backend} {name}: {why}" for why in own]
    return misses


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    # The machines are shared: a busy one makes every figure slower, the ratios less so.
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    files = [VAR / f"bench_pages_{size}.sqlite3" for size in SIZES]
    for file in files:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{file}{suffix}").unlink(missing_ok=True)
    results = [_run_backend("sqlite", tuple(f"sqlite:///{file}" for file in files))]
    names = [f"{PG_DB}_{size}" for size in SIZES]
    try:
        for name in names:
            _pg(f"DROP DATABASE IF EXISTS {name}")
            _pg(f"CREATE DATABASE {name}")
    except Exception as exc:  # no server on this machine: report SQLite alone
        print(f"PostgreSQL not available ({exc}); skipping it.")
    else:
        try:
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            results.append(_run_backend("postgresql", tuple(f"{base}/{n}" for n in names)))
        finally:
            for name in names:
                _pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    misses = []
    for result in results:
        # A backend whose child failed measured nothing: that is a miss, not a pass.
        misses += _report(result) if result["ok"] else [f"{result['backend']}: the run failed"]
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("\nTargets: " + ("all met." if not misses else "MISSED:\n  " + "\n  ".join(misses)))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
