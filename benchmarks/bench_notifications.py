"""Notification delivery through a real Celery worker, Redis and an SMTP server (aiosmtpd).

Figures: bare Celery no-op throughput (one worker, concurrency 2), end-to-end notification
throughput on the same worker (commit -> SMTP accepted), their ratio (target >= 0.6), and
the p95 latency commit -> SMTP accepted at a steady 20 events/s (target <= 2 s).

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
bench_notifications, created if missing) and redis-server on PATH (its own, on a free port).
"""

import multiprocessing
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

from escalation_portal.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parent.parent
NOOP_COUNT = 3000
E2E_COUNT = 1000
STEADY_RATE, STEADY_SECONDS = 20, 15


_counter = None


@celery_app.task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """A no-op that only counts itself (one Redis INCR on a connection the pool child
    keeps), so the benchmark sees it finish. A new connection per task would slow the
    no-op down and flatter the ratio."""
    global _counter
    if _counter is None:
        import redis

        _counter = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    _counter.incr("bench:noop")


def _cpu_seconds(worker_pid: int, smtp_pid: int, redis_pid: int, database: str) -> dict[str, float]:
    """CPU seconds used so far by each party of the run, from /proc (Linux): where the
    time goes per message is what decides the ratio on a 2-core machine."""
    parties: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid, ppid, ticks = int(entry.name), int(fields[1]), int(fields[11]) + int(fields[12])
        if pid == worker_pid:
            party = "worker main process"
        elif ppid == worker_pid:
            party = "worker pool children"
        elif pid == smtp_pid:
            party = "SMTP server (aiosmtpd)"
        elif pid == redis_pid:
            party = "Redis"
        elif pid == os.getpid():
            party = "benchmark (commits, publishes)"
        elif command.startswith("postgres:") and f" {database} " in command:
            party = "PostgreSQL backends"
        else:
            continue
        parties[party] = parties.get(party, 0.0) + ticks / os.sysconf("SC_CLK_TCK")
    return parties


def _cpu_used(before: dict[str, float], after: dict[str, float], per: int) -> str:
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    parts = ", ".join(
        f"{k} {v / per * 1000:.2f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v > 0
    )
    return f"{sum(used.values()) / per * 1000:.2f} ms CPU each ({parts})"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Recorder:
    """aiosmtpd in a process of its own, as a real mail server would be: in this process it
    would compete with the benchmark for the GIL. It reports each accepted Message-ID with
    the moment (time.monotonic, one clock for every process on the machine)."""

    def __init__(self, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue()
        self._ready = context.Event()
        self._process = context.Process(
            target=_smtp_server, args=(port, self._queue, self._ready), daemon=True
        )
        self.accepted: dict[str, float] = {}

    def start(self) -> None:
        self._process.start()
        if not self._ready.wait(30):
            raise TimeoutError("the SMTP server did not start")

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(5)

    def count(self) -> int:
        while True:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                return len(self.accepted)
            self.accepted.update(batch)


# The Message-ID from the header block: the server only reads what it reports, as an MTA
# would, instead of parsing every MIME part into Python objects (a fifth of its CPU).
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def _smtp_server(port: int, out, ready) -> None:
    import asyncio
    import logging

    from aiosmtpd.controller import Controller

    # aiosmtpd logs every SMTP line; that would be the bottleneck measured.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    accepted: list[tuple[str, float]] = []

    def report() -> None:
        out.put(accepted[:])
        accepted.clear()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            # The moment of acceptance is taken here; it is reported in batches every 2 ms
            # (one pipe write per batch, not per message: those woke a feeder thread each).
            head = envelope.content.split(b"\r\n\r\n", 1)[0]
            accepted.append((MESSAGE_ID.search(head).group(1).decode(), time.monotonic()))
            if len(accepted) == 1:
                asyncio.get_running_loop().call_later(0.002, report)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    threading.Event().wait()


def _wait(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish")
        time.sleep(0.005)


def _ensure_database(url: str) -> None:
    """A new, empty database every run: one left by an older schema would not migrate."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    db_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_notifications"
    )
    _ensure_database(db_url)
    tmp = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    redis_port, smtp_port = _free_port(), _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="escalation_portal.settings_test",
        DATABASE_URL=db_url,
        TEST_CELERY_BROKER_URL=redis_url,
        BENCH_REDIS_URL=redis_url,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        VAR_DIR=str(tmp),
    )

    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from incidents.models import Service, SupportGroup
    from incidents.services.incidents import incident_report
    from notifications.models import Notification

    celery_app.conf.broker_url = redis_url
    celery_app.conf.broker_transport_options = settings.BROKER_REDIS_TRANSPORT_OPTIONS
    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-initiator", defaults={"email": "bench@example.com"}
    )
    group, _ = SupportGroup.objects.get_or_create(name="Bench desk", defaults={"level": 1})
    service, _ = Service.objects.get_or_create(name="Bench", defaults={"default_group": group})

    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    recorder = smtp = _Recorder(smtp_port)
    smtp.start()
    client = redis.Redis.from_url(redis_url)
    _wait(lambda: _ping(client), 10)
    log = (tmp / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "escalation_portal", "worker", "--loglevel=WARNING",
         "--concurrency=2", "--pool=prefork", "--without-gossip", "--without-mingle",
         "-I", "benchmarks.bench_notifications", "-n", "bench@%h"],
        cwd=BASE_DIR, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # Warm up: the pool children connect to Redis and PostgreSQL once.
        for _ in range(20):
            noop.delay()
        _wait(lambda: int(client.get("bench:noop") or 0) >= 20, 60)

        cpu = partial(_cpu_seconds, worker.pid, smtp._process.pid, redis_server.pid,
                      db_url.rsplit("/", 1)[1])  # fmt: skip
        client.set("bench:noop", 0)
        before = cpu()
        started = time.monotonic()
        for _ in range(NOOP_COUNT):
            noop.delay()
        _wait(lambda: int(client.get("bench:noop") or 0) >= NOOP_COUNT, 300)
        noop_rate = NOOP_COUNT / (time.monotonic() - started)
        noop_cpu = _cpu_used(before, cpu(), NOOP_COUNT)

        def report(n: int) -> None:
            incident_report(initiator=user, title=f"Bench {n}", description="bench",
                            service=service, impact=3, urgency=3)  # fmt: skip

        report(-1)  # warm up the delivery path
        _wait(lambda: recorder.count() >= 1, 30)
        recorder.accepted.clear()
        with transaction.atomic():
            for n in range(E2E_COUNT):
                report(n)
            committed = {}
            before = cpu()
            # The commit happens on leaving this block, and Django runs the enqueueing
            # on-commit callbacks inside it: start the clock here so both are counted.
            started = time.monotonic()
        _wait(lambda: recorder.count() >= E2E_COUNT, 300)
        e2e_rate = E2E_COUNT / (max(recorder.accepted.values()) - started)
        e2e_cpu = _cpu_used(before, cpu(), E2E_COUNT)

        recorder.accepted.clear()
        interval = 1 / STEADY_RATE
        next_at = time.monotonic()
        for n in range(STEADY_RATE * STEADY_SECONDS):
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
            report(n)
            committed[Notification.objects.filter(channel="email").latest("pk").message_id] = (
                time.monotonic()
            )
        _wait(lambda: recorder.count() >= len(committed), 60)
        latencies = sorted(recorder.accepted[m] - committed[m] for m in committed)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        smtp.stop()
        redis_server.terminate()
        redis_server.wait(5)

    ratio = e2e_rate / noop_rate
    print(f"bare Celery no-op throughput (1 worker, concurrency 2): {noop_rate:8.0f} tasks/s")
    print(f"end-to-end notifications, commit -> SMTP accepted:      {e2e_rate:8.0f} msgs/s")
    print(f"ratio end-to-end / no-op: {ratio:.2f} (target >= 0.6)")
    print(f"  per no-op task: {noop_cpu}")
    print(f"  per notification: {e2e_cpu}")
    print(
        f"latency commit -> SMTP accepted at {STEADY_RATE} events/s for {STEADY_SECONDS} s: "
        f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms (target p95 <= 2000 ms)"
    )


def _ping(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


if __name__ == "__main__":
    main()
