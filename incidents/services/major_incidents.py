"""Major incidents beyond IT operations' own moves: impact facts, linked incidents and the
fan-out of public updates to their initiators, stakeholders, the post-incident review."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.models import (
    ACTIVE_STATES,
    Escalation,
    FollowUpAction,
    Incident,
    IncidentImpact,
    IncidentLink,
    OperationsLog,
    PostIncidentReview,
    Stakeholder,
    StakeholderNotice,
    TimelineEntry,
)
from incidents.roles import perm
from notifications.events import Event
from notifications.services import notification_queue

from .errors import ActionRefused, IncidentChanged
from .escalations import escalation_lock
from .guard import require_text
from .incidents import incident_lock
from .timeline import timeline_record

S = Escalation.State
Kind = TimelineEntry.Kind


def _may_operate(actor: Any) -> bool:
    return actor.has_perm(perm("operate_major")) or actor.has_perm(perm("manage_deescalation"))


@transaction.atomic
def incident_impact_record(
    *,
    incident: Incident,
    actor: Any,
    users_affected: int | None,
    services_affected: int | None,
    note: str = "",
) -> IncidentImpact:
    """Record how many users and services are hurt: facts for the major-incident criteria."""
    if not actor.has_perm(perm("work_incident")):
        raise PermissionDenied("Only support staff record the impact of an incident.")
    for value in (users_affected, services_affected):
        if value is not None and value < 0:
            raise ActionRefused("Counts of affected users and services cannot be negative.")
    incident = incident_lock(incident=incident)
    impact, _ = IncidentImpact.objects.update_or_create(
        incident=incident,
        defaults={
            "users_affected": users_affected,
            "services_affected": services_affected,
            "note": note.strip(),
            "updated_by": actor,
            "updated_at": timezone.now(),
        },
    )
    timeline_record(
        incident=incident, kind=Kind.PROGRESS, actor=actor,
        note=f"Impact recorded: {users_affected if users_affected is not None else '?'} users, "
        f"{services_affected if services_affected is not None else '?'} services affected."
        + (f" {note.strip()}" if note.strip() else ""),
    )  # fmt: skip
    return impact


# --- linked incidents -----------------------------------------------------------------


@transaction.atomic
def major_link_incident(
    *, escalation: Escalation, actor: Any, incident: Incident, note: str = ""
) -> IncidentLink:
    """Link a related incident (reported by someone else) to the major incident: its
    initiator is told and from now on receives the major incident's public updates."""
    if not _may_operate(actor):
        raise PermissionDenied("Only IT operations and incident managers link incidents.")
    case = escalation_lock(escalation=escalation)
    if case.major_at is None or case.state not in ACTIVE_STATES:
        raise IncidentChanged("Incidents are linked to an active major incident.")
    major = case.incident
    if incident.pk == major.pk:
        raise ActionRefused("An incident cannot be linked to itself.")
    related = Incident.objects.select_for_update().get(pk=incident.pk)
    if not related.is_open:
        raise ActionRefused(f"{related.number} is no longer open.")
    if (
        related.is_major
        and Escalation.objects.filter(
            incident=related, state__in=ACTIVE_STATES, major_at__isnull=False
        ).exists()
    ):
        # Two outages are two majors with their own IT operations work and updates; linking
        # one under the other would send its initiator two streams of updates.
        raise ActionRefused(
            f"{related.number} is a major incident itself: major incidents are not linked "
            "to each other."
        )
    try:
        with transaction.atomic():
            link = IncidentLink.objects.create(
                major_case=case, incident=related, linked_by=actor, note=note.strip()
            )
    except IntegrityError as exc:
        raise ActionRefused(f"{related.number} is already linked to {major.number}.") from exc
    OperationsLog.objects.create(
        escalation=case, kind=OperationsLog.Kind.LINKED, actor=actor,
        note=f"Linked {related.number}" + (f": {note.strip()}" if note.strip() else ""),
    )  # fmt: skip
    timeline_record(
        incident=major, escalation=case, kind=Kind.LINK, actor=actor,
        note=f"{related.number} ({related.title}) linked to this major incident.",
    )  # fmt: skip
    entry = timeline_record(
        incident=related, kind=Kind.LINK, actor=actor, public=True,
        note=f"Your incident is caused by the major incident {major.number} \"{major.title}\". "
        "You will receive its updates here.",
    )  # fmt: skip
    notification_queue(
        event=Event.INCIDENT_LINKED_TO_MAJOR, incident=related, cause=entry, actor=actor,
        extra={"major": major},
    )  # fmt: skip
    return link


def major_fan_out(*, case: Escalation, actor: Any, note: str) -> list[TimelineEntry]:
    """Copy a public update of a major incident to each linked incident's own timeline and
    tell its initiator (inside the caller's transaction)."""
    entries = []
    links = case.linked_incidents.select_related("incident__initiator")
    for link in links:
        entry = timeline_record(
            incident=link.incident, kind=Kind.STATUS_UPDATE, actor=actor, note=note, public=True
        )
        notification_queue(
            event=Event.STATUS_UPDATE, incident=link.incident, cause=entry, actor=actor,
            extra={"major": case.incident},
        )  # fmt: skip
        entries.append(entry)
    return entries


# --- stakeholders ---------------------------------------------------------------------


def stakeholder_notices_queue(
    *, log: OperationsLog, stakeholders: Sequence[Stakeholder]
) -> list[StakeholderNotice]:
    """Write one e-mail per stakeholder in the escalation's transaction; deliver on commit."""
    incident = log.escalation.incident
    notices = []
    for stakeholder in stakeholders:
        context = {"stakeholder": stakeholder, "incident": incident, "log": log,
                   "site_url": settings.SITE_URL}  # fmt: skip
        notices.append(
            StakeholderNotice(
                log=log,
                stakeholder=stakeholder,
                email=stakeholder.email,
                subject=" ".join(
                    render_to_string("incidents/stakeholders/subject.txt", context).split()
                ),
                body=render_to_string("incidents/stakeholders/body.txt", context).strip(),
            )
        )
    created = StakeholderNotice.objects.bulk_create(notices)
    ids = [n.pk for n in created if n.pk]

    def enqueue() -> None:
        from incidents.tasks_deescalation import stakeholder_notice_deliver

        for pk in ids:
            try:
                stakeholder_notice_deliver.delay(pk)
            except Exception:  # the broker is away: the sweep in the monitor sends it
                return

    transaction.on_commit(enqueue)
    return created


def stakeholder_notice_deliver(*, notice_id: int) -> StakeholderNotice | None:
    """Send one stakeholder e-mail. Idempotent: a sent notice is left alone."""
    with transaction.atomic():
        notice = (
            StakeholderNotice.objects.select_for_update(skip_locked=True)
            .filter(pk=notice_id, status=StakeholderNotice.Status.PENDING)
            .first()
        )
        if notice is None:
            return None
        notice.attempts += 1
        try:
            EmailMultiAlternatives(
                subject=notice.subject, body=notice.body,
                from_email=settings.DEFAULT_FROM_EMAIL, to=[notice.email],
            ).send(fail_silently=False)  # fmt: skip
        except Exception as exc:
            notice.last_error = str(exc)[:1000]
            notice.save(update_fields=["attempts", "last_error"])
            return notice
        notice.status = StakeholderNotice.Status.SENT
        notice.sent_at = timezone.now()
        notice.last_error = ""
        notice.save(update_fields=["status", "sent_at", "attempts", "last_error"])
        return notice


def stakeholder_notices_sweep(*, limit: int = 100) -> int:
    """Send what is still pending (the broker was down, or a send failed)."""
    pending = StakeholderNotice.objects.filter(
        status=StakeholderNotice.Status.PENDING, attempts__lt=8
    ).values_list("pk", flat=True)[:limit]
    sent = 0
    for pk in list(pending):
        notice = stakeholder_notice_deliver(notice_id=pk)
        sent += bool(notice and notice.status == StakeholderNotice.Status.SENT)
    return sent


# --- the post-incident review --------------------------------------------------------


@dataclass(frozen=True)
class FollowUpDraft:
    description: str
    owner: Any
    due_at: datetime | None = None


@transaction.atomic
def post_incident_review_submit(
    *,
    escalation: Escalation,
    actor: Any,
    summary: str,
    cause: str,
    follow_ups: list[FollowUpDraft],
) -> PostIncidentReview:
    """Record (or revise) the review a major incident's case needs before it can close."""
    summary = require_text(summary, what="a summary of what happened")
    cause = require_text(cause, what="the cause")
    if not follow_ups:
        raise ActionRefused("A post-incident review needs at least one follow-up action.")
    for number, action in enumerate(follow_ups, start=1):
        require_text(action.description, what=f"a description for follow-up action {number}")
        if action.owner is None or not action.owner.has_perm(perm("work_incident")):
            raise ActionRefused(f"Follow-up action {number} needs an owner among the staff.")
    if not _may_operate(actor):
        raise PermissionDenied("Only IT operations and incident managers write the review.")
    case = escalation_lock(escalation=escalation)
    if case.major_at is None:
        raise ActionRefused("Only a major incident has a post-incident review.")
    if case.state not in ACTIVE_STATES:
        raise IncidentChanged("This escalation is over; its review can no longer change.")
    review, created = PostIncidentReview.objects.update_or_create(
        escalation=case,
        defaults={"summary": summary, "cause": cause, "author": actor,
                  "submitted_at": timezone.now()},
    )  # fmt: skip
    review.follow_ups.all().delete()
    FollowUpAction.objects.bulk_create(
        FollowUpAction(
            review=review,
            position=index,
            description=action.description.strip(),
            owner=action.owner,
            due_at=action.due_at,
        )
        for index, action in enumerate(follow_ups)
    )
    entry = timeline_record(
        incident=case.incident, escalation=case, kind=Kind.REVIEW, actor=actor,
        note=("Post-incident review submitted" if created else "Post-incident review revised")
        + f" with {len(follow_ups)} follow-up actions. Cause: {cause}",
    )  # fmt: skip
    notification_queue(
        event=Event.REVIEW_SUBMITTED, incident=case.incident, escalation=case, cause=entry,
        actor=actor,
    )  # fmt: skip
    return review
