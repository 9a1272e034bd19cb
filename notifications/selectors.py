"""Reads for the notification pages: inbox, the initiator's status page, the staff outbox."""

from pathlib import Path
from typing import Any

from django.conf import settings
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


def notification_list_inbox(*, user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, channel=Channel.IN_APP).select_related(
        "incident"
    )


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


# --- development mail files (EMAIL_URL=filemail://) -------------------------------


def mail_directory() -> Path | None:
    path = getattr(settings, "EMAIL_FILE_PATH", None)
    return Path(path) if path else None


def mail_file_list(*, limit: int = 200) -> list[dict[str, Any]]:
    directory = mail_directory()
    if directory is None or not directory.is_dir():
        return []
    files = sorted(directory.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    result = []
    for path in files[:limit]:
        head = path.read_text(errors="replace")[:4000]
        subject = next((line[9:] for line in head.splitlines() if line.startswith("Subject: ")), "")
        to = next((line[4:] for line in head.splitlines() if line.startswith("To: ")), "")
        result.append(
            {"name": path.name, "subject": subject, "to": to, "size": path.stat().st_size}
        )
    return result


def mail_file_read(*, name: str) -> str | None:
    """The text of one mail file; None for a name outside the mail directory."""
    directory = mail_directory()
    if directory is None or "/" in name or "\\" in name or not name.endswith(".log"):
        return None
    path = directory / name
    if not path.is_file():
        return None
    return path.read_text(errors="replace")
