"""Reads for the initiator pages, the incident manager board and the IT operations queue.

Every list here runs a fixed number of queries whatever the number of rows: related rows
come through select_related / prefetch_related and figures through annotations.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from incidents.models import (
    ACTIVE_STATES,
    DEFAULT_CADENCE_MINUTES,
    DeescalationActivity,
    Escalation,
    Incident,
    OperationsLog,
    TimelineEntry,
    UpdateCadence,
)
from incidents.roles import perm
from incidents.selectors import timeline_change_words
from incidents.selectors_deescalation import update_clock_of
from incidents.sla import sla_policies
from notifications.models import Notification

S = Escalation.State
Status = Incident.Status


# --- the initiator ---------------------------------------------------------------


def _latest_case_state() -> Subquery:
    latest = Escalation.objects.filter(incident=OuterRef("pk")).order_by("-created_at", "-pk")
    return Subquery(latest.values("state")[:1])


def incident_list_for_initiator(*, user: Any) -> QuerySet[Incident]:
    """The user's own incidents, newest first, with the stage of their latest escalation."""
    return (
        Incident.objects.filter(initiator=user)
        .select_related("service")
        .annotate(escalation_state=_latest_case_state())
        .order_by("-created_at", "-pk")
    )


def incident_get_for_initiator(*, user: Any, number: str) -> Incident:
    """One of the user's own incidents; anyone else's is a 404, never a 403 (no probing)."""
    return get_object_or_404(
        Incident.objects.select_related("service", "assignee", "assignment_group"),
        number=number,
        initiator=user,
    )


def escalation_latest_for(*, incident: Incident) -> Escalation | None:
    """The active case, or else the most recent one (its outcome is still news)."""
    cases = Escalation.objects.filter(incident=incident).select_related("plan")
    return cases.filter(state__in=ACTIVE_STATES).first() or cases.order_by("-created_at").first()


STATE_LABELS = {
    "incident": dict(Status.choices),
    "escalation": dict(S.choices),
    "activity": dict(DeescalationActivity.Status.choices),
}


def timeline_headline(entry: TimelineEntry) -> str:
    """'Escalation: Being deescalated' reads better than 'Status change' to an initiator."""
    label = STATE_LABELS.get(entry.machine, {}).get(entry.to_state)
    if label and entry.from_state != entry.to_state:
        return f"{'Escalation' if entry.machine == 'escalation' else 'Status'}: {label}"
    if entry.kind == TimelineEntry.Kind.PROGRESS:
        return "Message"
    return entry.get_kind_display()


def timeline_public_for(*, incident: Incident) -> list[TimelineEntry]:
    entries = list(
        TimelineEntry.objects.filter(incident=incident, public=True)
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )
    for entry in entries:
        entry.headline = timeline_headline(entry)
    return entries


def notification_list_for_incident(*, incident: Incident, user: Any) -> QuerySet[Notification]:
    """What the portal told this user about this incident (the in-app copy of each message)."""
    return Notification.objects.filter(
        incident=incident, recipient=user, channel="in_app"
    ).order_by("-created_at", "-pk")


@dataclass(frozen=True)
class StatusStory:
    """Where an incident stands and what happens next, in the initiator's words."""

    headline: str
    next_step: str
    tone: str  # a Bootstrap contextual colour


STAGE_WORDS: dict[str, tuple[str, str, str]] = {
    S.IMMINENT: (
        "Support is working to keep this from needing an escalation.",
        "The service desk is taking extra steps; you can still ask for an escalation.",
        "warning",
    ),
    S.REQUESTED: (
        "You asked for an escalation. The service desk is checking it.",
        "First-level support checks whether an escalation is justified and tells you the "
        "outcome here and by e-mail.",
        "warning",
    ),
    S.REJECTED: (
        "Your escalation request was not accepted.",
        "Support keeps working on the incident as usual. The reason is in the timeline below.",
        "secondary",
    ),
    S.AVOIDED: (
        "An escalation was not needed.",
        "The problem was handled without escalating. See the timeline for what was done.",
        "success",
    ),
    S.ESCALATED: (
        "Your incident has been escalated.",
        "An incident manager is drawing up a plan to fix it. You will hear what will be done "
        "once the plan is approved.",
        "danger",
    ),
    S.MAJOR: (
        "This is being handled as a major incident.",
        "IT operations have taken charge. Updates are posted here as work progresses.",
        "danger",
    ),
    S.PLAN_SUBMITTED: (
        "Your incident has been escalated and a recovery plan is being approved.",
        "Once the plan is approved you will be told what will be done and by when.",
        "danger",
    ),
    S.DEESCALATING: (
        "A recovery plan is being carried out.",
        "The people responsible are working through the plan. You will be told when it is "
        "complete.",
        "primary",
    ),
    S.DEESCALATED: (
        "The escalation is over: the recovery plan is complete.",
        "Support finishes the incident as usual and will mark it resolved.",
        "success",
    ),
    S.CANCELLED: (
        "The escalation was withdrawn.",
        "Support keeps working on the incident as usual.",
        "secondary",
    ),
}

STATUS_WORDS: dict[str, tuple[str, str, str]] = {
    Status.NEW: (
        "We have your report. It is waiting for the service desk.",
        "Someone from the service desk will pick it up and start working on it.",
        "info",
    ),
    Status.IN_PROGRESS: (
        "Support is working on your incident.",
        "You will be told here and by e-mail when something changes.",
        "primary",
    ),
    Status.ON_HOLD: (
        "Support is waiting for an answer from you.",
        "Reply with a message below; the clock starts again as soon as you answer.",
        "warning",
    ),
    Status.RESOLVED: (
        "Support says the problem is fixed.",
        "If it works for you, confirm it is resolved. If not, reopen it and say what is wrong.",
        "success",
    ),
    Status.CLOSED: ("This incident is closed.", "Nothing more will happen.", "secondary"),
    Status.CANCELLED: ("This incident was cancelled.", "Nothing more will happen.", "secondary"),
}


def initiator_status_story(*, incident: Incident, case: Escalation | None) -> StatusStory:
    # While the incident is open its escalation (under way, or how it ended) is the news;
    # once resolved or closed, the incident's own state is.
    if incident.is_open and case is not None:
        return StatusStory(*STAGE_WORDS[case.state])
    return StatusStory(*STATUS_WORDS[incident.status])


# --- staff: who may own an activity ------------------------------------------------


def user_list_staff() -> QuerySet[Any]:
    """Everyone who works incidents (holds work_incident through a role or directly)."""
    app_label, codename = perm("work_incident").split(".")
    granted = Q(
        groups__permissions__codename=codename,
        groups__permissions__content_type__app_label=app_label,
    ) | Q(
        user_permissions__codename=codename,
        user_permissions__content_type__app_label=app_label,
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(granted | Q(is_superuser=True))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


# --- the incident manager board -----------------------------------------------------


def _last_public_update() -> Subquery:
    updates = TimelineEntry.objects.filter(
        incident=OuterRef("incident_id"), kind=TimelineEntry.Kind.STATUS_UPDATE
    ).order_by("-created_at")
    return Subquery(updates.values("created_at")[:1], output_field=DateTimeField())


def _board_cases(*states: str) -> QuerySet[Escalation]:
    return (
        Escalation.objects.filter(state__in=states)
        .select_related("incident", "incident__service", "incident__initiator", "plan")
        .annotate(last_update_at=_last_public_update())
    )


def _with_progress(cases: QuerySet[Escalation], now: datetime) -> QuerySet[Escalation]:
    done = Q(plan__activities__status__in=["done", "cancelled"])
    overdue = Q(plan__activities__status="open", plan__activities__due_at__lt=now)
    return cases.annotate(
        activities_total=Count("plan__activities"),
        activities_done=Count("plan__activities", filter=done),
        activities_overdue=Count("plan__activities", filter=overdue),
        next_due_at=Min("plan__activities__due_at", filter=Q(plan__activities__status="open")),
    )


@dataclass
class ManagerBoard:
    waiting_for_plan: list[Escalation]
    waiting_for_approval: list[Escalation]
    deescalating: list[Escalation]
    major: list[Escalation]


def _promise_next_updates(cases: list[Escalation], now: datetime) -> None:
    """Set `next_update_at` and `update_late`: update_clock's promise for each case, from
    the cases' own columns and two queries (the cadence and the SLA policies)."""
    cadence = dict(DEFAULT_CADENCE_MINUTES)
    cadence.update(UpdateCadence.objects.values_list("priority", "interval_minutes"))
    policies = sla_policies() if cases else {}
    for case in cases:
        priority = case.incident.priority
        clock = update_clock_of(
            case, last_update=case.last_update_at, policy=policies[priority],
            interval=timedelta(minutes=cadence[priority]),
        )  # fmt: skip
        case.next_update_at = clock.due
        case.update_late = case.next_update_at < now


def manager_board(*, now: datetime | None = None) -> ManagerBoard:
    """The four lists of the incident manager board, oldest (most urgent) first: 5 queries."""
    now = now or timezone.now()
    board = ManagerBoard(
        waiting_for_plan=list(
            _with_progress(_board_cases(S.ESCALATED), now).order_by("escalated_at", "pk")
        ),
        waiting_for_approval=list(
            _with_progress(_board_cases(S.PLAN_SUBMITTED), now).order_by("plan__submitted_at", "pk")
        ),
        deescalating=list(
            _with_progress(_board_cases(S.DEESCALATING), now).order_by(
                "-activities_overdue", "deescalation_started_at", "pk"
            )
        ),
        major=list(_board_cases(S.MAJOR).order_by("major_at", "pk")),
    )
    _promise_next_updates(
        board.waiting_for_plan + board.waiting_for_approval + board.deescalating + board.major,
        now,
    )
    return board


def escalation_get_for_staff(*, number: str) -> Escalation:
    """The active case of an incident (or its latest one) for the staff workspaces."""
    incident = get_object_or_404(
        Incident.objects.select_related("service", "initiator", "assignee", "assignment_group"),
        number=number,
    )
    cases = Escalation.objects.filter(incident=incident).select_related(
        "plan", "plan__author", "plan__approved_by", "acknowledged_by", "raised_by", "decided_by"
    )
    case = cases.filter(state__in=ACTIVE_STATES).first() or cases.first()
    if case is None:
        raise Http404("This incident has never been escalated.")
    case.incident = incident
    return case


def activity_list_for_plan(*, escalation: Escalation) -> list[DeescalationActivity]:
    plan = getattr(escalation, "plan", None)
    if plan is None:
        return []
    return list(plan.activities.select_related("owner", "finished_by"))


def timeline_for_staff(*, incident: Incident, limit: int = 50) -> list[TimelineEntry]:
    entries = list(
        TimelineEntry.objects.filter(incident=incident)
        .select_related("actor")
        .order_by("-created_at", "-pk")[:limit]
    )
    for entry in entries:
        entry.change_words = timeline_change_words(entry)
    return entries


# --- the IT operations queue ------------------------------------------------------------


def major_list_for_operations() -> QuerySet[Escalation]:
    """Active major incidents: unacknowledged first (oldest first), then by classification."""
    logs = OperationsLog.objects.filter(escalation=OuterRef("pk"))
    return (
        Escalation.objects.filter(state=S.MAJOR)
        .select_related("incident", "incident__service", "incident__assignee", "acknowledged_by")
        .annotate(
            last_action_at=Subquery(
                logs.order_by("-created_at").values("created_at")[:1],
                output_field=DateTimeField(),
            ),
            actions_logged=Count("operations_log", distinct=True),
            is_unacknowledged=~Exists(
                Escalation.objects.filter(pk=OuterRef("pk"), acknowledged_at__isnull=False)
            ),
            last_update_at=_last_public_update(),
        )
        .order_by("-is_unacknowledged", "major_at", "pk")
    )


def escalation_handover(*, case: Escalation) -> OperationsLog | None:
    """IT operations' last hand-over of this major incident: the state the plan starts from."""
    if case.major_at is None:
        return None
    return (
        case.operations_log.filter(kind=OperationsLog.Kind.HANDED_OVER)
        .select_related("actor")
        .order_by("-created_at")
        .first()
    )


def major_recently_handed_over(*, limit: int = 10) -> QuerySet[OperationsLog]:
    return (
        OperationsLog.objects.filter(kind=OperationsLog.Kind.HANDED_OVER)
        .select_related("escalation__incident", "actor")
        .order_by("-created_at")[:limit]
    )


def operations_log_for(*, escalation: Escalation) -> QuerySet[OperationsLog]:
    return escalation.operations_log.select_related("actor").order_by("-created_at")


STAGE_OF = {
    S.IMMINENT: "At risk",
    S.REQUESTED: "Checked",
    S.ESCALATED: "Escalated",
    S.MAJOR: "Escalated",
    S.PLAN_SUBMITTED: "Escalated",
    S.DEESCALATING: "Plan approved",
    S.DEESCALATED: "Deescalated",
}


def escalation_stage_steps(*, case: Escalation | None) -> list[tuple[str, str]]:
    """The path this escalation took and has ahead, as (label, done|current|todo); empty
    when it ended another way. Only steps it really went through: nobody asked for an
    escalation that support flagged or declared major, so it has no "Asked for"."""
    if case is None or case.state not in STAGE_OF:
        return []
    if case.state == S.IMMINENT:
        labels = ["At risk", "Checked"]  # its one way up: asked for, then checked
    elif case.requested_at is not None:
        labels = ["Asked for", "Checked"]
    else:
        labels = []
    labels += ["Escalated", "Plan approved", "Deescalated"]
    at = labels.index(STAGE_OF[case.state])
    final = case.state == S.DEESCALATED
    steps = [
        (label, "done" if index < at or final else "current" if index == at else "todo")
        for index, label in enumerate(labels)
    ]
    if case.major_at is not None:
        # A major incident is escalated to IT operations: say so, in the same place.
        steps = [("Major incident" if label == "Escalated" else label, state)
                 for label, state in steps]  # fmt: skip
    return steps
