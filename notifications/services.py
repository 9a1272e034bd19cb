"""Queue notifications inside a change's transaction; deliver them after it commits."""

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import select_template
from django.utils import timezone

from incidents.models import Escalation, Incident, TimelineEntry

from .audiences import audience_members
from .events import CATALOGUE, Channel, Event
from .models import Notification

logger = logging.getLogger(__name__)


def _render(event: Event, name: str, context: dict[str, Any]) -> str:
    template = select_template([f"notifications/{event}/{name}", f"notifications/default/{name}"])
    return template.render(context).strip()


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
    """
    extra = extra or {}
    spec = CATALOGUE[event]
    recipients: dict[int, Any] = {}
    for audience in spec.audiences:
        for user in audience_members(
            audience, incident=incident, escalation=escalation, extra=extra
        ):
            # The person who acted does not need to be told what they just did.
            if actor is not None and user.pk == getattr(actor, "pk", None):
                continue
            recipients.setdefault(user.pk, user)

    rows = []
    for user in recipients.values():
        context = {
            "event": event,
            "spec": spec,
            "incident": incident,
            "escalation": escalation,
            "recipient": user,
            "entry": cause,
            "site_url": settings.SITE_URL,
            "is_initiator": user.pk == incident.initiator_id,
            **{k: v for k, v in extra.items() if k != "owner"},
        }
        subject = " ".join(_render(event, "subject.txt", context).split())
        body = _render(event, "body.txt", context)
        now = timezone.now()
        for channel in (Channel.IN_APP, Channel.EMAIL):
            in_app = channel == Channel.IN_APP
            rows.append(
                Notification(
                    recipient=user,
                    channel=channel,
                    event=event,
                    incident=incident,
                    escalation=escalation,
                    subject=subject,
                    body=body,
                    idempotency_key=f"{cause.pk}:{event}:{user.pk}:{channel}",
                    # In-app notifications are delivered the moment the change commits.
                    status=Notification.Status.SENT if in_app else Notification.Status.PENDING,
                    sent_at=now if in_app else None,
                )
            )
    created = Notification.objects.bulk_create(rows)
    email_ids = [n.pk for n in created if n.channel == Channel.EMAIL and n.pk]
    if email_ids:
        transaction.on_commit(lambda: notification_enqueue(notification_ids=email_ids))
    return created


def notification_enqueue(*, notification_ids: list[int]) -> None:
    """Hand rows to the Celery worker. A broker that is down loses nothing: the sweeper
    re-enqueues every row still pending, so an error here is logged, not raised."""
    from .tasks import deliver_notification

    for pk in notification_ids:
        try:
            deliver_notification.delay(pk)
        except Exception:
            logger.warning("Broker unavailable; notification %s waits for the sweeper", pk)
            return


def notification_deliver(*, notification_id: int) -> Notification | None:
    """Send one e-mail row. Idempotent: a row that is already sent is left alone."""
    with transaction.atomic():
        row = (
            Notification.objects.select_for_update(skip_locked=True)
            .select_related("recipient", "incident")
            .filter(pk=notification_id, status=Notification.Status.PENDING)
            .first()
        )
        if row is None:
            return None  # sent already, or another worker holds it right now
        row.attempts += 1
        message = EmailMultiAlternatives(
            subject=row.subject,
            body=row.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[row.recipient.email],
        )
        message.send(fail_silently=False)
        row.status = Notification.Status.SENT
        row.sent_at = timezone.now()
        row.last_error = ""
        row.save(update_fields=["status", "sent_at", "attempts", "last_error"])
        return row
