"""Queue notifications inside a change's transaction; deliver them after it commits.

The guarantee (docs/notifications.md): every e-mail row is delivered at least once or ends
`failed` with its error; a row is marked sent only after the SMTP server accepted it, and a
row that is already sent is never sent again. Duplicates can only come from a worker dying in
the instant between the server's acceptance and our commit; they carry the same Message-ID.
"""

import copy
import logging
import random
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q
from django.template.loader import select_template
from django.utils import timezone

from incidents.models import DeescalationPlan, Escalation, Incident, TimelineEntry

from .audiences import ROLE_OF, audience_members
from .channels import email_failure_kind, email_send
from .claims import ClaimedEmail, email_outcome, emails_claim, emails_release
from .events import CATALOGUE, Audience, Channel, Event
from .models import Notification, NotificationPreference, message_id_of
from .sessions import close_quietly, in_lanes, mail_session

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


def _thread_roots(rows: Iterable[ClaimedEmail]) -> dict[tuple[int, int], str]:
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
    return {(i, r): message_id_of(first) for i, r, first in firsts}


def _attempt(
    *, connection: Any, row: ClaimedEmail, claimant: str, thread_root_id: str | None
) -> Attempt:
    """One delivery attempt of a row this task has claimed; its outcome is written (and the
    claim ended) in one statement right after the server answered, so the window in which a
    crash could cause a duplicate stays one message long on each session."""
    now = timezone.now()
    attempts = row.attempts + 1
    try:
        if not row.recipient_email:
            raise ValueError(f"recipient {row.recipient_id} has no e-mail address")
        email_send(connection=connection, row=row, thread_root_id=thread_root_id)
    except Exception as exc:
        close_quietly(connection)
        kind = email_failure_kind(exc)
        error = f"{now:%Y-%m-%d %H:%M:%S} UTC, attempt {attempts}: {exc!r}"[:2000]
        if kind == "permanent" or attempts >= settings.NOTIFICATIONS["MAX_ATTEMPTS"]:
            email_outcome(pk=row.pk, claimant=claimant, status=Status.FAILED,
                          attempts=attempts, last_error=error)  # fmt: skip
            logger.error("Notification %s failed for good: %s", row.pk, error)
            return Attempt("failed", row.pk, error=error)
        delay = retry_delay(attempts=attempts)
        email_outcome(pk=row.pk, claimant=claimant, attempts=attempts, last_error=error,
                      next_attempt_at=now + timedelta(seconds=delay))  # fmt: skip
        logger.warning("Notification %s will be retried in %.0f s: %s", row.pk, delay, error)
        return Attempt("retry", row.pk, retry_in=delay, error=error)
    # Only now has the server accepted the message: record it before anything else.
    if not email_outcome(pk=row.pk, claimant=claimant, status=Status.SENT,
                         sent_at=timezone.now(), attempts=attempts, last_error=""):  # fmt: skip
        logger.error("Notification %s was sent after its claim had lapsed", row.pk)
    return Attempt("sent", row.pk)


def _send_all(
    rows: list[ClaimedEmail], *, claimant: str, roots: dict[tuple[int, int], str],
    trouble: threading.Event,
) -> tuple[list[Attempt], list[int]]:  # fmt: skip
    """Attempt each claimed row over this thread's mail session; stop at the first transient
    failure, in this lane or another (the server is in trouble: do not burn other rows'
    attempts). Returns the attempts and the rows not tried, whose claims are given back."""
    connection, kept = mail_session()
    attempts: list[Attempt] = []
    try:
        for n, row in enumerate(rows):
            if trouble.is_set():
                left = [r.pk for r in rows[n:]]
                emails_release(pks=left, claimant=claimant)
                return attempts, left
            attempt = _attempt(
                connection=connection, row=row, claimant=claimant,
                thread_root_id=roots.get((row.incident_id, row.recipient_id)),
            )  # fmt: skip
            attempts.append(attempt)
            if attempt.outcome == "retry":
                trouble.set()
        return attempts, []
    except BaseException:
        # The database failed mid-batch, say: the session may be mid-conversation, so start
        # afresh. The rows this lane had not tried stay claimed until the claim lapses.
        close_quietly(connection)
        raise
    finally:
        if not kept:
            close_quietly(connection)


def _deliver_claimed(rows: list[ClaimedEmail], claimant: str) -> tuple[list[Attempt], list[int]]:
    """Send the claimed rows over up to DELIVERY_SESSIONS mail sessions at once.

    Inside a transaction (a caller's, the tests') the rows go over one session on the
    calling thread: another thread's database connection would not see uncommitted rows.
    """
    if not rows:
        return [], []
    roots = _thread_roots(rows)
    trouble = threading.Event()
    lanes = settings.NOTIFICATIONS["DELIVERY_SESSIONS"]
    if transaction.get_connection().in_atomic_block:
        lanes = 1
    results = in_lanes(
        partial(_send_all, claimant=claimant, roots=roots, trouble=trouble), rows, lanes=lanes
    )
    return [a for done, _ in results for a in done], [pk for _, left in results for pk in left]


def notification_deliver(
    *,
    notification_id: int,
    drain: int | None = None,
    also: Sequence[int] = (),
    claimant: str | None = None,
) -> list[Attempt]:
    """Send one e-mail row and the rows in `also`, then up to `drain` other due rows; each
    group is claimed and read in two queries, and sent over the worker's mail sessions.

    Idempotent: a row that is sent (or held by another task) is left alone. A transient
    failure schedules the row's next attempt; a permanent one marks it failed, error kept.
    `claimant` is the Celery task's id: run again after a crash, the task takes back the
    rows it held; called directly, each call is a claimant of its own.
    """
    claimant = claimant or f"call-{uuid.uuid4().hex}"
    drain = settings.NOTIFICATIONS["DELIVERY_BATCH"] - 1 - len(also) if drain is None else drain
    rows = emails_claim(claimant=claimant, pks=[notification_id, *also])
    attempts, left = _deliver_claimed(rows, claimant)
    if not left and not any(a.outcome == "retry" for a in attempts) and drain > 0:
        attempts += _deliver_claimed(emails_claim(claimant=claimant, due=drain), claimant)[0]
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

    A row a task has claimed is not touched while the claim lasts; skip_locked: two
    sweepers running at once split the rows instead of both taking them.
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
            # A row a task is sending right now is that task's; one whose task died is
            # free again once its claim has lapsed.
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
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
