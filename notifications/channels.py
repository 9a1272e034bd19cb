"""The e-mail channel: build the message with its threading headers, send it; tell failures
apart.

In-app needs no channel code: the in-app row is the notification, delivered at commit.
"""

import random
import re
import smtplib
from email.header import Header
from email.utils import formatdate
from functools import cache
from typing import Any, Literal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address

from .claims import ClaimedEmail
from .models import message_id_of

Failure = Literal["transient", "permanent"]


def _headers(row: ClaimedEmail, thread_root_id: str | None) -> dict[str, str]:
    message_id = message_id_of(row.pk)
    headers = {"Message-ID": message_id, "X-Portal-Incident": row.incident_number}
    if thread_root_id and thread_root_id != message_id:
        # Every later message of the incident replies to the first one the reader got, so a
        # mail client shows one conversation per incident.
        headers["In-Reply-To"] = thread_root_id
        headers["References"] = thread_root_id
    return headers


def email_build(*, row: ClaimedEmail, thread_root_id: str | None) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.recipient_email],
        headers=_headers(row, thread_root_id),
    )
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    return message


_LINE_END = re.compile(r"\r\n|\r|\n")  # what the e-mail package turns into CRLF


@cache
def _from_header(from_email: str) -> str:
    return sanitize_address(from_email, "utf-8")


def _header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"a header may not contain a line break: {value!r}")
    if value.isascii():
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _address(address: str) -> str:
    if address.isascii():
        return _header("To", address)
    return sanitize_address(address, "utf-8")  # an international name or domain


def _boundary(*parts: bytes) -> bytes:
    """A random boundary found in no part, as the e-mail package makes them."""
    while True:
        boundary = f"==============={random.randrange(10**18, 10**19)}==".encode()
        if not any(boundary in part for part in parts):
            return boundary


def _part(text: str) -> bytes | None:
    """A body as 8-bit text with CRLF line ends, or None when a line is too long for that."""
    lines = [line.encode() for line in _LINE_END.split(text)]
    if any(len(line) > 998 for line in lines):
        return None  # RFC 5322 caps lines at 998 octets: such a text needs encoding
    return b"\r\n".join(lines)


def email_bytes(*, row: ClaimedEmail, thread_root_id: str | None) -> bytes | None:
    """The message as Django's `email_build(...).message()` writes it (multipart/alternative
    of 8-bit UTF-8 text and HTML, the same headers), without the e-mail package's object
    model: that took three quarters of a millisecond a message, a fifth of what delivering
    one costs the whole machine (measured with bench_notifications). None for a message this
    short path does not cover (an overlong line), which `email_build` then takes."""
    text = _part(row.body)
    html = _part(row.body_html) if row.body_html else b""
    if text is None or html is None:
        return None
    headers = {
        "Subject": _header("Subject", row.subject),
        "From": _from_header(settings.DEFAULT_FROM_EMAIL),
        "To": _address(row.recipient_email),
        "Date": formatdate(localtime=settings.EMAIL_USE_LOCALTIME),
        **{name: _header(name, value) for name, value in _headers(row, thread_root_id).items()},
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    plain = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n'
    if not html:
        return f"{head}MIME-Version: 1.0\r\n".encode() + plain + b"\r\n" + text
    boundary = _boundary(text, html)
    return b"".join([
        f'{head}MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="'.encode(),
        boundary, b'"\r\n\r\n--', boundary, b"\r\n", plain, b"\r\n", text, b"\r\n--",
        boundary, b'\r\nContent-Type: text/html; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\n", html, b"\r\n--", boundary, b"--\r\n",
    ])  # fmt: skip


def email_send(*, connection: Any, row: ClaimedEmail, thread_root_id: str | None) -> None:
    """Send one message over an open mail connection. Over SMTP the message is written by
    `email_bytes` and handed to the session as Django's backend would; other backends
    (files in development, the tests' memory) get Django's message object."""
    connection.open()
    data = None
    if isinstance(connection, SMTPBackend) and connection.connection is not None:
        data = email_bytes(row=row, thread_root_id=thread_root_id)
    if data is None:
        connection.send_messages([email_build(row=row, thread_root_id=thread_root_id)])
        return
    connection.connection.sendmail(
        _from_header(settings.DEFAULT_FROM_EMAIL),
        [_address(row.recipient_email)],
        data,
    )


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
