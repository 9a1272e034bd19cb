"""Real services for integration tests: a redis-server of the test's own, an aiosmtpd server,
a silent SMTP port, and a real `celery -A escalation_portal worker` process.

The worker shares the test database, so these tests run on PostgreSQL (`postgres` fixture)
and hand the test database's name to the worker through DATABASE_URL.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection

from escalation_portal.celery import app as celery_app
from tests.conftest import service_missing

BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], object], *, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- Redis ----------------------------------------------------------------------


class RedisServer:
    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir, self.process = port, workdir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, timeout=5, what="redis-server to start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # a crash: nothing saved, queued messages are gone
            self.process.wait(5)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def test_broker(redis_server) -> Iterator[RedisServer]:
    """Point this test process's publisher at the test's Redis, failing fast when it is down."""
    saved = {k: celery_app.conf[k] for k in ("broker_url", "broker_transport_options")}
    celery_app.conf.broker_url = redis_server.url
    celery_app.conf.broker_transport_options = settings.BROKER_REDIS_TRANSPORT_OPTIONS
    _reset_publisher()
    yield redis_server
    celery_app.conf.update(saved)
    _reset_publisher()


def _reset_publisher() -> None:
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


# --- SMTP -----------------------------------------------------------------------


class RecordingHandler:
    """Accepts mail like a real server and remembers it; can be told to answer 4xx/5xx."""

    def __init__(self) -> None:
        self.messages: list = []
        self.lock = threading.Lock()
        self.answers: dict[str, list[str]] = {}  # subject fragment -> codes to answer first
        # The next message is held this long before the server answers (0: none).
        self.hold_next = 0.0
        self.holding = threading.Event()
        self.held_peer: tuple | None = None

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        message = message_from_bytes(envelope.content, policy=default_policy)
        for fragment, codes in self.answers.items():
            if fragment in (message["Subject"] or "") and codes:
                return codes.pop(0)
        if self.hold_next:
            hold, self.hold_next = self.hold_next, 0.0
            self.held_peer = session.peer
            self.holding.set()
            await asyncio.sleep(hold)
            if server.transport is None or server.transport.is_closing():
                return "421 client went away"  # never answered, so never accepted
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for _, m in self.messages]


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


class SilentFront:
    """A TCP front for the SMTP server: the next N connections are accepted and never
    greeted; the others are passed through to the real server."""

    def __init__(self, upstream: int) -> None:
        self.upstream, self.silent_next = upstream, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.silent_next > 0:
                self.silent_next -= 1
                self.held.append(client)
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()
        for s in self.held:
            s.close()


@pytest.fixture
def silent_front(smtp_server) -> Iterator[SilentFront]:
    front = SilentFront(smtp_server[1])
    yield front
    front.close()


# --- the Celery worker ------------------------------------------------------------


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process, self.log = process, log

    def pool_children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                             text=True).stdout  # fmt: skip
        return [int(pid) for pid in out.split()]

    def child_with_local_port(self, port: int) -> int | None:
        """The pool child that owns the TCP connection from 127.0.0.1:`port`."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) == port:
                    inodes.add(fields[9])
        for pid in self.pool_children():
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        return pid
            except OSError:
                continue
        return None


@pytest.fixture
def start_worker(postgres, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start `celery -A escalation_portal worker` on the test database; stopped at teardown."""
    workers: list[Worker] = []
    db = connection.settings_dict

    def start(*, broker_url: str, smtp_port: int, concurrency: int = 2, beat: bool = True,
              **env: str) -> Worker:  # fmt: skip
        log = tmp_path / f"worker-{len(workers)}.log"
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "escalation_portal.settings_test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "TEST_CELERY_BROKER_URL": broker_url,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_TIMEOUT": "2",
            "NOTIFY_RETRY_BASE_SECONDS": "0.3",
            "NOTIFY_RETRY_MAX_SECONDS": "1",
            "NOTIFY_SWEEP_INTERVAL_SECONDS": "1",
            "NOTIFY_SWEEP_AFTER_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        command = [sys.executable, "-m", "celery", "-A", "escalation_portal", "worker",
                   "--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork",
                   "--without-gossip", "--without-mingle",
                   "-n", f"test{len(workers)}@%h"]  # fmt: skip
        if beat:
            command += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        worker = Worker(process, log)
        workers.append(worker)
        wait_for(lambda: "ready." in log.read_text() or process.poll() is not None,
                 timeout=30, what="the Celery worker to be ready")  # fmt: skip
        if process.poll() is not None:
            raise AssertionError(f"worker exited:\n{log.read_text()[-3000:]}")
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(10)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(5)


def pytest_runtest_setup(item) -> None:
    # Before any fixture: the database set-up of these tests only works on PostgreSQL.
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        service_missing("needs PostgreSQL shared with the worker: set DATABASE_URL")
