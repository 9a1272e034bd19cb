"""Reads for the development mail viewer: the files Django's file backend writes.

With EMAIL_URL=filemail:// (the default) each connection of the file backend writes one
file under var/mail holding one or more messages, each followed by a line of 79 dashes.
The viewer shows them as a mail client would: headers decoded (RFC 2047 subjects, folded
lines), the text part, and the HTML part, so nobody has to read base64 or quoted-printable.
"""

import email
import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.conf import settings

SEPARATOR = "\n" + "-" * 79 + "\n"


@dataclass(frozen=True)
class MailMessage:
    file: str
    index: int  # position in its file, for the anchor on the file's page
    subject: str
    sender: str
    to: str
    date: datetime | None
    headers: list[tuple[str, str]]
    text: str
    html: str
    raw: str


def mail_directory() -> Path | None:
    path = getattr(settings, "EMAIL_FILE_PATH", None)
    return Path(path) if path else None


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    try:
        return part.get_content()
    except (LookupError, ValueError):  # an unknown charset: show what can be read
        return part.get_payload(decode=True).decode("utf-8", errors="replace")


def _parse(file: str, index: int, raw: str) -> MailMessage:
    message = email.message_from_string(raw, policy=email.policy.default)
    try:
        date = parsedate_to_datetime(message["Date"]) if message["Date"] else None
    except (TypeError, ValueError):
        date = None
    return MailMessage(
        file=file,
        index=index,
        subject=str(message["Subject"] or ""),
        sender=str(message["From"] or ""),
        to=str(message["To"] or ""),
        date=date,
        headers=[(name, str(value)) for name, value in message.items()],
        text=_body(message, "plain"),
        html=_body(message, "html"),
        raw=raw,
    )


def _file_messages(path: Path) -> list[MailMessage]:
    parts = [p for p in path.read_text(errors="replace").split(SEPARATOR) if p.strip()]
    return [_parse(path.name, index, raw) for index, raw in enumerate(parts)]


def mail_message_list(*, limit: int = 200) -> list[MailMessage]:
    """The newest messages first, at most `limit`, from the newest files."""
    directory = mail_directory()
    if directory is None or not directory.is_dir():
        return []
    files = sorted(directory.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    result: list[MailMessage] = []
    for path in files:
        if len(result) >= limit:
            break
        result += reversed(_file_messages(path))
    return result[:limit]


def mail_file_messages(*, name: str) -> list[MailMessage] | None:
    """The messages of one mail file; None for a name outside the mail directory."""
    directory = mail_directory()
    if directory is None or "/" in name or "\\" in name or not name.endswith(".log"):
        return None
    path = directory / name
    if not path.is_file():
        return None
    return _file_messages(path)
