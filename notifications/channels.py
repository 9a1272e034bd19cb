"""The e-mail channel: build the message with its threading headers; tell failures apart.

In-app needs no channel code: the in-app row is the notification, delivered at commit.
"""

import smtplib
from typing import Literal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from .models import Notification

Failure = Literal["transient", "permanent"]


def email_build(*, row: Notification, thread_root_id: str | None) -> EmailMultiAlternatives:
    headers = {"Message-ID": row.message_id, "X-Portal-Incident": row.incident.number or ""}
    if thread_root_id and thread_root_id != row.message_id:
        # Every later message of the incident replies to the first one the reader got, so a
        # mail client shows one conversation per incident.
        headers["In-Reply-To"] = thread_root_id
        headers["References"] = thread_root_id
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.recipient.email],
        headers=headers,
    )
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    return message


def email_failure_kind(exc: BaseException) -> Failure:
    """4xx and lost connections may work later; 5xx and anything else will not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return "transient" if codes and all(400 <= c < 500 for c in codes) else "permanent"
    if isinstance(exc, smtplib.SMTPResponseException):
        return "transient" if 400 <= exc.smtp_code < 500 else "permanent"
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):  # refused, reset, timed out
        return "transient"
    return "permanent"
