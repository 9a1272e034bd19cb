"""Queue notifications inside a change's transaction; deliver them after it commits.

The guarantee (docs/notifications.md): every e-mail row is delivered at least once or ends
`failed` with its error; a row is marked sent only after the SMTP server accepted it, and a
row that is already sent is never sent again. Duplicates can only come from a worker dying in
the instant between the server's acceptance and our commit; they carry the same Message-ID.
"""

import copy
import logging
import os
import random
import re
import smtplib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Max, Min
from django.template.loader import select_template
from django.utils import timezone

from incidents.models import DeescalationPlan, Escalation, Incident, TimelineEntry

from .audiences import ROLE_OF, audience_members
from .channels import email_build, email_failure_kind
from .events import CATALOGUE, Audience, Channel, Event
from .models import Notification, NotificationPreference

logger = logging.getLogger(__name__)
Status = Notification.Status


def _render(event: Event, name: str, context: dict[str, Any]) -> str:
    template = select_template([f"notifications/{event}/{name}", f"notifications/default/{name}"])
    text = template.render(context).strip()
    # Optional paragraphs (no reason given, no plan yet) leave gaps; close them up.
    if name.endswith(".html"):
        return re.sub(r"<p>\s*</p>\n?", "", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def _muted_by(user_ids: list[int]) -> dict[int, set[str]]:
    return {
        user_id: set(muted)
        for user_id, muted in NotificationPreference.objects.filter(
            user_id__in=user_ids
        ).values_list("user_id", "muted_events")
    }


def notification_is_urgent(*, event: Event, incident: Incident, for_initiator: bool) -> bool:
    """Alerts to staff about P1 and major incidents reach them even when they muted e-mail."""
    if for_initiator:
        return False
    return CATALOGUE[event].urgent or incident.priority == 1 or incident.is_major


@dataclass(frozen=True)
class NotificationStep:
    """One step to notify about: what `notification_queue` takes, as a value for batches."""

    event: Event
    incident: Incident
    cause: TimelineEntry
    escalation: Escalation | None = None
    actor: Any = None
    extra: dict[str, Any] | None = None


# While a batch is open (`notification_batch`), `notification_queue` collects its steps here
# instead of writing them; the batch writes them all at once when it closes.
_collecting: ContextVar[list[NotificationStep] | None] = ContextVar("_collecting", default=None)


def notification_queue(
    *,
    event: Event,
    incident: Incident,
    cause: TimelineEntry,
    escalation: Escalation | None = None,
    actor: Any = None,
    extra: dict[str, Any] | None = None,
) -> list[Notification]:
    """Write the outbox rows of one step: one per recipient and channel.

    Must run inside the service's transaction, so the change and its notifications
    commit together or not at all; `cause` (the step's timeline row) makes the
    idempotency key, so the same step never notifies anyone twice.

    Inside `notification_batch()` the step is collected and written when the batch closes
    (and an empty list is returned).
    """
    collected = _collecting.get()
    if collected is not None:
        # Copies: the text is rendered later, but must say what was true at this step
        # (a breach requests, then escalates the same case in one go).
        collected.append(
            NotificationStep(
                event=event, incident=copy.copy(incident), cause=cause,
                escalation=copy.copy(escalation), actor=actor, extra=extra,
            )
        )  # fmt: skip
        return []
    step = NotificationStep(
        event=event, incident=incident, cause=cause, escalation=escalation, actor=actor,
        extra=extra,
    )  # fmt: skip
    return notification_queue_many(steps=[step])


@contextmanager
def notification_batch() -> Iterator[list[NotificationStep]]:
    """Collect every `notification_queue` inside the block; write them in one batch at its end.

    Use inside the transaction of the change (the SLA monitor's chunk). A step whose
    savepoint rolled back inside the block notifies nobody: its timeline row is gone, and
    steps are only written for timeline rows that still exist. An exception discards all.
    """
    if _collecting.get() is not None:  # already batching: the outer batch writes them
        yield _collecting.get()
        return
    steps: list[NotificationStep] = []
    token = _collecting.set(steps)
    try:
        yield steps
    finally:
        _collecting.reset(token)
    if steps:
        alive = set(
            TimelineEntry.objects.filter(pk__in={s.cause.pk for s in steps}).values_list(
                "pk", flat=True
            )
        )
        notification_queue_many(steps=[s for s in steps if s.cause.pk in alive])


class _Audiences:
    """Who is in each audience, for a batch: each role's members and each case's plan
    (with the last activity's due time) read once per batch, not once per step."""

    def __init__(self, steps: Sequence[NotificationStep]) -> None:
        self._roles: dict[Audience, list[Any]] = {}
        case_ids = {s.escalation.pk for s in steps if s.escalation is not None}
        self.plans: dict[int, DeescalationPlan] = (
            {
                plan.escalation_id: plan
                for plan in DeescalationPlan.objects.filter(escalation_id__in=case_ids)
                .select_related("author")
                .annotate(last_due=Max("activities__due_at"))
            }
            if case_ids
            else {}
        )

    def members(self, audience: Audience, step: NotificationStep) -> Iterable[Any]:
        if audience in ROLE_OF:
            if audience not in self._roles:
                self._roles[audience] = list(
                    audience_members(audience, incident=step.incident, escalation=None, extra={})
                )
            return self._roles[audience]
        if audience == Audience.PLAN_AUTHOR:
            plan = self.plan(step)
            return [plan.author] if plan is not None else []
        return audience_members(
            audience, incident=step.incident, escalation=step.escalation, extra=step.extra or {}
        )

    def plan(self, step: NotificationStep) -> DeescalationPlan | None:
        return self.plans.get(step.escalation.pk) if step.escalation is not None else None


def notification_queue_many(*, steps: Sequence[NotificationStep]) -> list[Notification]:
    """`notification_queue` for many steps at once: the same rows, keys and preferences as
    one call per step, with one query per audience, one insert and one enqueue for all."""
    if not steps:
        return []
    audiences = _Audiences(steps)
    per_step: list[tuple[NotificationStep, dict[int, Any]]] = []
    for step in steps:
        spec = CATALOGUE[step.event]
        recipients: dict[int, Any] = {}
        for audience in spec.audiences:
            for user in audiences.members(audience, step):
                # The person who acted does not need to be told what they just did, except
                # the initiator's receipt for their own request.
                acted = step.actor is not None and user.pk == getattr(step.actor, "pk", None)
                if acted and not (spec.receipt and audience == Audience.INITIATOR):
                    continue
                recipients.setdefault(user.pk, user)
        per_step.append((step, recipients))
    muted = _muted_by(list({pk for _, recipients in per_step for pk in recipients}))

    rows = []
    for step, recipients in per_step:
        event, incident, escalation, cause = step.event, step.incident, step.escalation, step.cause
        extra = step.extra or {}
        spec = CATALOGUE[event]
        activity = extra.get("activity")
        # One step can assign several activities to the same owner: one notice per activity.
        key_suffix = f":a{activity.pk}" if activity is not None else ""
        stored_context = {"activity_id": activity.pk} if activity is not None else {}
        plan = audiences.plan(step)
        for user in recipients.values():
            is_initiator = user.pk == incident.initiator_id
            context = {
                "event": event,
                "spec": spec,
                "incident": incident,
                "escalation": escalation,
                "plan": plan,
                "plan_last_due": plan.last_due if plan is not None else None,
                "time_zone": settings.TIME_ZONE,
                "recipient": user,
                "entry": cause,
                "site_url": settings.SITE_URL,
                "is_initiator": is_initiator,
                **{k: v for k, v in extra.items() if k != "owner"},
            }
            subject = " ".join(_render(event, "subject.txt", context).split())
            body = _render(event, "body.txt", context)
            now = timezone.now()
            channels = [Channel.IN_APP]
            wants_email = str(event) not in muted.get(user.pk, set())
            if user.email and (
                wants_email
                or notification_is_urgent(
                    event=event, incident=incident, for_initiator=is_initiator
                )
            ):
                channels.append(Channel.EMAIL)
            for channel in channels:
                in_app = channel == Channel.IN_APP
                rows.append(
                    Notification(
                        recipient=user,
                        channel=channel,
                        event=event,
                        incident=incident,
                        escalation=escalation,
                        cause=cause,
                        subject=subject,
                        body=body,
                        # Rendered only for e-mail, the one channel that shows it.
                        body_html="" if in_app else _render(event, "body.html", context),
                        context=stored_context,
                        idempotency_key=f"{cause.pk}:{event}:{user.pk}:{channel}{key_suffix}",
                        # In-app notifications are delivered the moment the change commits.
                        status=Status.SENT if in_app else Status.PENDING,
                        sent_at=now if in_app else None,
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
    created = Notification.objects.bulk_create(rows)
    email_ids = [n.pk for n in created if n.channel == Channel.EMAIL and n.pk]
    if email_ids:
        _enqueue_after_commit(email_ids)
    return created


def _enqueue_after_commit(ids: list[int]) -> None:
    """Enqueue the rows once the transaction commits, together with every other row the
    same transaction queued, so a burst (a thousand changes in one commit) becomes one task
    per DELIVERY_BATCH rows instead of one task per row.

    Each step still registers its own on-commit callback (Django drops the callbacks of a
    rolled-back savepoint); the first one to run enqueues what the transaction collected,
    the others find nothing left. Rows of a rolled-back savepoint may still be collected:
    the flush only enqueues rows that exist and are pending.
    """
    connection = transaction.get_connection()
    collected: list[int] = connection.__dict__.setdefault("_outbox_collected", [])
    collected.extend(ids)

    def flush() -> None:
        pks = list(dict.fromkeys(collected))
        collected.clear()
        if not pks:
            return
        try:
            pending = set(
                Notification.objects.filter(
                    pk__in=pks, status=Status.PENDING, channel=Channel.EMAIL
                ).values_list("pk", flat=True)
            )
        except Exception:  # the change is committed: never fail the request over this
            logger.warning("Could not enqueue %d notification(s); the sweeper will", len(pks))
            return
        notification_enqueue(notification_ids=[pk for pk in pks if pk in pending])

    transaction.on_commit(flush)


def notification_enqueue(*, notification_ids: list[int], countdown: float | None = None) -> None:
    """Hand rows to the Celery worker, one task per DELIVERY_BATCH rows (a task sends its
    rows over one SMTP connection). A broker that is down loses nothing: the sweeper
    re-enqueues every row still pending, so an error here is logged, not raised."""
    from .tasks import deliver_notification

    size = max(1, settings.NOTIFICATIONS["DELIVERY_BATCH"])
    try:
        # One broker connection for the whole batch, not one checkout per message.
        with deliver_notification.app.producer_or_acquire() as producer:
            for first in range(0, len(notification_ids), size):
                pk, *also = notification_ids[first : first + size]
                deliver_notification.apply_async(
                    (pk,), {"also": also} if also else None, countdown=countdown,
                    producer=producer,
                )  # fmt: skip
    except Exception:
        logger.warning(
            "Broker unavailable; %d notification(s) wait for the sweeper", len(notification_ids)
        )


def retry_delay(*, attempts: int) -> float:
    """Exponential backoff with jitter, so retries after an outage do not arrive in one wave."""
    config = settings.NOTIFICATIONS
    base = config["RETRY_BASE_SECONDS"] * 2 ** max(0, attempts - 1)
    return min(config["RETRY_MAX_SECONDS"], base) * random.uniform(0.75, 1.25)


@dataclass
class Attempt:
    outcome: str  # "sent", "skipped", "retry", "failed"
    notification_id: int | None = None
    retry_in: float | None = None
    error: str = ""


def _thread_roots(rows: Iterable[Notification]) -> dict[tuple[int, int], str]:
    """The Message-ID of each (incident, recipient)'s first e-mail, for a batch in one query."""
    rows = list(rows)
    if not rows:
        return {}
    firsts = (
        Notification.objects.filter(
            channel=Channel.EMAIL,
            incident_id__in={r.incident_id for r in rows},
            recipient_id__in={r.recipient_id for r in rows},
        )
        .values_list("incident_id", "recipient_id")
        .annotate(first=Min("pk"))
        .order_by()
    )
    return {(i, r): Notification(pk=first).message_id for i, r, first in firsts}


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # a broken session: we only want the socket gone
        logger.debug("Closing a broken mail connection failed", exc_info=True)
        if hasattr(connection, "connection"):
            connection.connection = None


_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# One SMTP session per worker process, kept open from one batch to the next: connecting,
# the greeting, EHLO and QUIT for every batch were round trips on every 20 messages.
_kept_connections: dict[tuple[Any, ...], Any] = {}


def _smtp_alive(connection: Any) -> bool:
    try:
        return connection.connection.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def _mail_connection() -> tuple[Any, bool]:
    """The mail connection for a batch, and whether it is kept for the next one.

    A kept SMTP session is checked with NOOP first (the server may have dropped it while
    idle) and re-opened if it does not answer, so a stale session costs no attempt. It is
    keyed by process (a forked pool child never shares its parent's socket) and server.
    Other backends (files, tests' locmem) get a new connection each batch, as before.
    """
    if settings.EMAIL_BACKEND != _SMTP_BACKEND:
        return get_connection(fail_silently=False), False
    key = (
        os.getpid(), settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_HOST_USER,
        settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL, settings.EMAIL_TIMEOUT,
    )  # fmt: skip
    connection = _kept_connections.get(key)
    if connection is None:
        for old_key, old in list(_kept_connections.items()):
            if old_key[0] == key[0]:  # this process, another server: settings changed
                _close_quietly(old)
        _kept_connections.clear()
        connection = _kept_connections[key] = get_connection(fail_silently=False)
    elif connection.connection is not None and not _smtp_alive(connection):
        _close_quietly(connection)  # the next open() connects again
    return connection, True


# The two statements every message costs, in SQL of their own: building them through the
# ORM took more CPU than the statements and the SMTP exchange together (measured: 0.95 ms
# against 0.35 ms per message), on the path that decides how many messages a worker sends.
_TABLE = Notification._meta.db_table


def _lock_pending(pk: int) -> int | None:
    """Lock a pending e-mail row and return its attempts so far; None if it is not pending
    any more or another worker holds it (skip_locked: never wait behind a send)."""
    lock = ""
    if db_connection.features.has_select_for_update_skip_locked:  # SQLite locks the file
        lock = " " + db_connection.ops.for_update_sql(skip_locked=True)
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT attempts FROM {_TABLE} WHERE id = %s AND status = %s AND channel = %s{lock}",
            [pk, Status.PENDING, Channel.EMAIL],
        )
        found = cursor.fetchone()
    return None if found is None else found[0]


def _mark_sent(row: Notification) -> None:
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET status = %s, sent_at = %s, attempts = %s, last_error = %s "
            "WHERE id = %s",
            [
                row.status,
                db_connection.ops.adapt_datetimefield_value(row.sent_at),
                row.attempts,
                row.last_error,
                row.pk,
            ],
        )


def _attempt(*, connection: Any, row: Notification, thread_root_id: str | None) -> Attempt:
    """One delivery attempt in its own transaction, the row locked while it is sent.

    `row` was read before, without a lock; here only what can change since (status and
    attempts) is re-read under the lock. Committing after each accepted message keeps the
    window in which a crash could cause a duplicate to one message.
    """
    now = timezone.now()
    with transaction.atomic():
        attempts = _lock_pending(row.pk)
        if attempts is None:  # sent already, or another worker holds it right now
            return Attempt("skipped", row.pk)
        row.attempts = attempts + 1
        try:
            if not row.recipient.email:
                raise ValueError(f"{row.recipient} has no e-mail address")
            message = email_build(row=row, thread_root_id=thread_root_id)
            connection.open()
            connection.send_messages([message])
        except Exception as exc:
            _close_quietly(connection)
            kind = email_failure_kind(exc)
            error = f"{now:%Y-%m-%d %H:%M:%S} UTC, attempt {row.attempts}: {exc!r}"[:2000]
            row.last_error = error
            if kind == "permanent" or row.attempts >= settings.NOTIFICATIONS["MAX_ATTEMPTS"]:
                row.status = Status.FAILED
                row.save(update_fields=["status", "attempts", "last_error"])
                logger.error("Notification %s failed for good: %s", row.pk, error)
                return Attempt("failed", row.pk, error=error)
            delay = retry_delay(attempts=row.attempts)
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            logger.warning("Notification %s will be retried in %.0f s: %s", row.pk, delay, error)
            return Attempt("retry", row.pk, retry_in=delay, error=error)
        # Only now has the server accepted the message; commit right away (no QUIT first)
        # to keep the window in which a crash could cause a duplicate as short as possible.
        row.status, row.sent_at, row.last_error = Status.SENT, timezone.now(), ""
        _mark_sent(row)
        return Attempt("sent", row.pk)


def _pending(pks: Sequence[int] | None = None, *, limit: int = 0) -> list[Notification]:
    """Pending e-mail rows to attempt, read without a lock (`_attempt` takes it): the given
    ones in that order, or else the `limit` oldest due ones."""
    rows = Notification.objects.select_related("recipient", "incident").filter(
        status=Status.PENDING, channel=Channel.EMAIL
    )
    if pks is not None:
        by_pk = {row.pk: row for row in rows.filter(pk__in=pks)}
        return [by_pk[pk] for pk in dict.fromkeys(pks) if pk in by_pk]
    if limit <= 0:
        return []
    due = rows.filter(next_attempt_at__lte=timezone.now()).order_by("next_attempt_at", "pk")
    return list(due[:limit])


def _send_all(*, connection: Any, rows: list[Notification]) -> tuple[list[Attempt], list[int]]:
    """Attempt each row over one connection; stop at the first transient failure (the
    server is in trouble: do not burn other rows' attempts). Returns the attempts and the
    rows not tried."""
    roots = _thread_roots(rows)
    attempts: list[Attempt] = []
    for n, row in enumerate(rows):
        attempt = _attempt(
            connection=connection, row=row,
            thread_root_id=roots.get((row.incident_id, row.recipient_id)),
        )  # fmt: skip
        if attempt.outcome != "skipped":
            attempts.append(attempt)
        if attempt.outcome == "retry":
            return attempts, [r.pk for r in rows[n + 1 :]]
    return attempts, []


def notification_deliver(
    *, notification_id: int, drain: int | None = None, also: Sequence[int] = ()
) -> list[Attempt]:
    """Send one e-mail row and the rows in `also`, then up to `drain` other due rows, all
    over one SMTP connection; each group's rows and thread roots are read in two queries.

    Idempotent: a row that is sent (or held by another worker) is left alone. A transient
    failure schedules the row's next attempt; a permanent one marks it failed, error kept.
    """
    drain = settings.NOTIFICATIONS["DELIVERY_BATCH"] - 1 - len(also) if drain is None else drain
    connection, kept = _mail_connection()
    try:
        attempts, left = _send_all(connection=connection, rows=_pending([notification_id, *also]))
        in_trouble = any(a.outcome == "retry" for a in attempts)
        if not in_trouble and drain > 0:
            attempts += _send_all(connection=connection, rows=_pending(limit=drain))[0]
    except BaseException:
        _close_quietly(connection)  # killed by the time limit mid-session, say: start afresh
        raise
    finally:
        if not kept:
            _close_quietly(connection)
    for attempt in attempts:
        if attempt.outcome == "retry":
            # The given rows not tried yet go with the retry instead of waiting for the sweeper.
            notification_enqueue(
                notification_ids=[attempt.notification_id, *left], countdown=attempt.retry_in
            )
            left = []
    return attempts or [Attempt("skipped", notification_id)]


def notification_sweep(*, now: Any = None) -> int:
    """Re-enqueue e-mail rows whose attempt is overdue (broker was down, a message was lost).

    skip_locked: a row a worker is sending right now is not touched, and two sweepers
    running at once split the rows instead of both taking them.
    """
    config = settings.NOTIFICATIONS
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(
                status=Status.PENDING,
                channel=Channel.EMAIL,
                next_attempt_at__lte=now - timedelta(seconds=config["SWEEP_AFTER_SECONDS"]),
            )
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[: config["SWEEP_BATCH"]]
        )
        # Re-arm: the next sweep waits a full interval again before it re-sends these.
        Notification.objects.filter(pk__in=due).update(next_attempt_at=now)
        if due:
            transaction.on_commit(lambda: notification_enqueue(notification_ids=due))
    if due:
        logger.info("Sweeper re-enqueued %d pending notification(s)", len(due))
    return len(due)


# --- in-app ---------------------------------------------------------------------


def notification_mark_read(*, notification: Notification, user: Any) -> Notification:
    if notification.recipient_id != user.pk:
        raise PermissionError("Only the recipient marks a notification as read.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notification_mark_all_read(*, user: Any) -> int:
    return Notification.objects.filter(
        recipient=user, channel=Channel.IN_APP, read_at__isnull=True
    ).update(read_at=timezone.now())


# --- staff: failed rows ---------------------------------------------------------


@transaction.atomic
def notification_resend(*, notification: Notification, actor: Any) -> Notification:
    """Put a failed (or stuck) e-mail row back in the queue; its error stays until it is sent."""
    row = Notification.objects.select_for_update().get(pk=notification.pk)
    if row.channel != Channel.EMAIL or row.status == Status.SENT:
        return row
    row.status = Status.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.last_error = f"{row.last_error}\nResent by {actor.get_username()}.".strip()
    row.save(update_fields=["status", "attempts", "next_attempt_at", "last_error"])
    transaction.on_commit(lambda: notification_enqueue(notification_ids=[row.pk]))
    return row


def notification_preferences_update(*, user: Any, muted_events: list[str]) -> None:
    valid = {str(e) for e in Event}
    NotificationPreference.objects.update_or_create(
        user=user, defaults={"muted_events": sorted(set(muted_events) & valid)}
    )
