"""Reads for the notification pages: inbox, the initiator's status page, the staff outbox."""

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from incidents.models import Incident

from .events import Channel
from .models import Notification


def notification_unread_count(*, user: Any) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(
        recipient=user, channel=Channel.IN_APP, read_at__isnull=True
    ).count()


def notification_list_inbox(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(recipient=user, channel=Channel.IN_APP)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.select_related("incident")


def notification_list_for_incident(*, incident: Incident, user: Any) -> QuerySet[Notification]:
    """What this user was told about this incident, oldest first, one row per step.

    Each row is the in-app notification; `email_status` says what became of the e-mail
    of the same step ("sent", "pending", "failed"; None when e-mail was muted).
    """
    email = Notification.objects.filter(
        cause=OuterRef("cause"),
        recipient=OuterRef("recipient"),
        event=OuterRef("event"),
        channel=Channel.EMAIL,
    ).values("status")[:1]
    return (
        Notification.objects.filter(incident=incident, recipient=user, channel=Channel.IN_APP)
        .annotate(email_status=Subquery(email))
        .order_by("created_at", "pk")
    )


def notification_list_outbox(*, status: str | None = None) -> QuerySet[Notification]:
    rows = Notification.objects.filter(channel=Channel.EMAIL).select_related(
        "recipient", "incident"
    )
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at")
