"""Real services for integration tests: a redis-server of the test's own, an aiosmtpd server,
a silent SMTP port, and a real `celery -A escalation_portal worker` process.

The worker shares the test database, so these tests run on PostgreSQL (`postgres` fixture)
and hand the test database's name to the worker through DATABASE_URL.
"""

import contextlib
import os
import re
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
    def __init__(self, workdir: Path) -> None:
        self.workdir, self.process, self.port = workdir, None, 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start on a free port; a restart (after `stop`) comes back on the same one.

        A free port is only free until someone binds it: other test runs on the machine
        pick ports too. When ours exits because the port was taken, the first start picks
        another one; a restart cannot, so it says so instead of timing out.
        """
        for _ in range(1 if self.port else 5):
            port = self.port or free_port()
            self.process = process = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.workdir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            # Until ours answers or exits: a PONG while ours has exited is somebody else's.
            wait_for(lambda: process.poll() is not None or self._answers(port),  # noqa: B023
                     timeout=10, what="redis-server to start")  # fmt: skip
            if process.poll() is None:
                self.port = port
                return
        raise AssertionError(f"redis-server exited at start (port {port} taken?)")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # a crash: nothing saved, queued messages are gone
            self.process.wait(5)

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not installed")
    server = RedisServer(tmp_path)
    try:
        server.start()
        yield server
    finally:  # also when the start or the test failed half-way
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
        # While holding (`hold_for`), every message is held until then before the server
        # answers; the peer of each is noted.
        self.hold_until = 0.0
        self.holding = threading.Event()
        self.held_peers: list[tuple] = []

    def hold_for(self, seconds: float) -> None:
        self.hold_until = time.monotonic() + seconds

    def holding_left(self) -> float:
        return self.hold_until - time.monotonic()

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        message = message_from_bytes(envelope.content, policy=default_policy)
        for fragment, codes in self.answers.items():
            if fragment in (message["Subject"] or "") and codes:
                return codes.pop(0)
        if self.holding_left() > 0:
            self.held_peers.append(session.peer)
            self.holding.set()
            await asyncio.sleep(self.holding_left())
            if server.transport is None or server.transport.is_closing():
                return "421 client went away"  # never answered, so never accepted
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for _, m in self.messages]


class BoundController(Controller):
    """aiosmtpd on a socket we bound ourselves: a port picked, closed and then bound again
    can be taken in between by another test run on the machine."""

    def __init__(self, handler, sock: socket.socket, **kwargs) -> None:
        self.sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.sock)


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    controller = BoundController(handler, socket.create_server(("127.0.0.1", 0)),
                                 ready_timeout=30)  # fmt: skip
    try:
        controller.start()
        yield handler, controller.port
    finally:
        controller.stop(no_assert=True)
        controller.sock.close()


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
    try:
        yield front
    finally:
        front.close()


# --- the Celery worker ------------------------------------------------------------


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process, self.log = process, log

    def finished(self, task: str) -> int:
        """How many runs of `task` the worker has logged as finished."""
        return len(re.findall(rf"Task {re.escape(task)}\[[^]]+\] succeeded", self.log.read_text()))

    def pool_children(self) -> list[int]:
        """The worker's child processes, read from /proc (no procps needed on a CI image)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:  # "pid (name) state ppid ...": the name may hold spaces and parentheses
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process is gone already
            if ppid == self.process.pid:
                children.append(int(stat.parent.name))
        return children

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
        with log.open("w") as out:
            # Its own process group: the pool children and the embedded beat go with it.
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        workers.append(worker)
        wait_for(lambda: " ready." in log.read_text() or process.poll() is not None,
                 timeout=60, what="the Celery worker to be ready")  # fmt: skip
        if process.poll() is not None:
            raise AssertionError(f"worker exited:\n{log.read_text()[-3000:]}")
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)  # warm shutdown: running tasks finish
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(20)
        # Whatever is left of the group (a pool child or beat outliving a killed main
        # process, a worker that would not stop) is killed, so nothing outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(5)


def pytest_runtest_setup(item) -> None:
    # Before any fixture: the database set-up of these tests only works on PostgreSQL.
    # (test_make_run.py brings its own SQLite database and runs everywhere.)
    needs_postgres = "postgres" in getattr(item, "fixturenames", ())
    if (
        needs_postgres
        and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    ):
        service_missing("needs PostgreSQL shared with the worker: set DATABASE_URL")
