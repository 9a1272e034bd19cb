"""The SMTP sessions a worker process keeps open, and the lanes that send over them at once.

A message costs four round trips to the mail server (MAIL, RCPT, DATA, the message) and
one to the database. Sent one after another, a worker process spends most of its time
waiting for answers (measured: more than half of it against a local aiosmtpd; a relay across
a network makes it worse). So a delivery task splits its rows over a few lanes, each a
thread of the process with its own SMTP session and database connection, both kept from
one task to the next, as a mail server sends to one destination over several connections.
"""

import logging
import os
import smtplib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.core.mail import get_connection
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# Kept SMTP sessions by (process, thread, server): connecting, the greeting, EHLO and QUIT
# for every batch were round trips on every 20 messages. A forked pool child never uses its
# parent's sockets, and two threads never share one session.
_kept: dict[tuple[Any, ...], Any] = {}
_kept_lock = threading.Lock()


def close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # a broken session: we only want the socket gone
        logger.debug("Closing a broken mail connection failed", exc_info=True)
        if hasattr(connection, "connection"):
            connection.connection = None


def _smtp_alive(connection: Any) -> bool:
    try:
        return connection.connection.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def mail_session() -> tuple[Any, bool]:
    """This thread's mail connection, and whether it is kept for the next batch.

    A kept SMTP session is checked with NOOP first (the server may have dropped it while
    idle) and re-opened if it does not answer, so a stale session costs no attempt. Other
    backends (files, the tests' locmem) get a new connection each batch.
    """
    if settings.EMAIL_BACKEND != _SMTP_BACKEND:
        return get_connection(fail_silently=False), False
    owner = (os.getpid(), threading.get_ident())
    server = (
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_HOST_USER,
        settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL, settings.EMAIL_TIMEOUT,
    )  # fmt: skip
    with _kept_lock:
        connection = _kept.get((*owner, *server))
        if connection is None:
            for key in [key for key in _kept if key[:2] == owner]:  # the settings changed
                close_quietly(_kept.pop(key))
            connection = _kept[(*owner, *server)] = get_connection(fail_silently=False)
    if connection.connection is not None and not _smtp_alive(connection):
        close_quietly(connection)  # the next open() connects again
    return connection, True


def mail_sessions_close() -> None:
    """Close every SMTP session this process keeps (a worker shutting down, tests)."""
    with _kept_lock:
        for key in [key for key in _kept if key[0] == os.getpid()]:
            close_quietly(_kept.pop(key))


T = TypeVar("T")
R = TypeVar("R")
# The lanes' threads by process, with their number: threads do not survive a fork, so a
# pool child starts its own.
_pools: dict[int, tuple[int, ThreadPoolExecutor]] = {}
_pools_lock = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    with _pools_lock:
        threads, pool = _pools.get(os.getpid(), (0, None))
    if pool is not None and threads < size:  # more lanes were configured (tests)
        lanes_close()
        pool = None
    if pool is None:
        with _pools_lock:
            pool = ThreadPoolExecutor(size, thread_name_prefix="mail-lane")
            _pools[os.getpid()] = (size, pool)
    return pool


def _in_lane(work: Callable[[list[T]], R], part: list[T]) -> R:
    # What Django does around a request, on the lane's own database connection: a broken
    # one, or one older than CONN_MAX_AGE, is replaced; a healthy one is kept.
    close_old_connections()
    try:
        return work(part)
    finally:
        close_old_connections()


def in_lanes(work: Callable[[list[T]], R], items: Sequence[T], *, lanes: int) -> list[R]:
    """`work` over `items` dealt into up to `lanes` parts, the parts at the same time, each
    on a thread this process keeps for it (a single part runs on the calling thread). The
    first error of a part is raised once every part has finished."""
    dealt = (list(items[n::lanes]) for n in range(max(1, lanes)))
    parts = [part for part in dealt if part]
    if len(parts) <= 1:
        return [work(list(items))]
    pool = _pool(lanes)
    futures = [pool.submit(_in_lane, work, part) for part in parts]
    results: list[R] = []
    error: BaseException | None = None
    for future in futures:
        try:
            results.append(future.result())
        except BaseException as exc:  # raised below, once the other parts have finished
            error = error or exc
    if error is not None:
        raise error
    return results


def lanes_close() -> None:
    """Stop this process's lanes, each closing its database connections first, and close
    its SMTP sessions (a worker process shutting down, tests)."""
    with _pools_lock:
        threads, pool = _pools.pop(os.getpid(), (0, None))
    if pool is not None:
        # One job for each thread: a thread that has closed waits for the others, so no
        # thread takes two jobs and leaves another's connections open.
        everyone = threading.Barrier(threads)

        def close() -> None:
            connections.close_all()
            everyone.wait(timeout=10)

        for _ in range(threads):
            pool.submit(close)
        pool.shutdown(wait=True)
    mail_sessions_close()
