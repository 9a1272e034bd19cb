"""Reads for the staff pages: the support queue, its tabs, the check screen, the incident page.

Every queue selector runs a fixed number of queries whatever the number of incidents: the
risk order and the escalation stage come from the database (indexes, an annotation), and
the SLA share and the stale mark are computed on the page's loaded rows, so a page never
loops over rows asking for more.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    prefetch_related_objects,
)
from django.utils import timezone

from incidents.models import (
    ACTIVE_STATES,
    Escalation,
    Incident,
    Service,
    SupportGroup,
    TimelineEntry,
)
from incidents.roles import perm

S = Escalation.State
DECIDED_STATES = (S.REJECTED, S.AVOIDED, S.ESCALATED, S.MAJOR)
RECENT_DECISIONS = timedelta(days=7)


def on_hold(prefix: str = "") -> ExpressionWrapper:
    """True while the resolution clock is paused (awaiting the caller)."""
    return ExpressionWrapper(
        Q(**{f"{prefix}on_hold_since__isnull": False}), output_field=BooleanField()
    )


# "Riskiest first" is the order in which the incidents will breach their resolution
# target: running clocks by resolution_due (breached ones first, most overdue on top),
# then the paused ones (they cannot breach while the caller is answering; among
# themselves by the due time they had when paused).
#
# Why not by the share of the target consumed (the bar)? For incidents with the same
# target the two orders are the same (share = 1 + (now - due) / target), but across
# priorities the share ranks a P5 at 80 % with a day left above a P1 at 50 % with two
# hours left, and no index can hold it: the order of two shares with different targets
# changes as time passes. resolution_due is stored (sla_sync keeps it true, calendars
# included), so the index incident_open_risk hands out a page of 25 rows in order
# without reading or sorting the other open incidents.
RISK = (on_hold(), "resolution_due", "priority", "pk")
SORTS = {
    # name -> order_by; every order ends on pk so pages never overlap.
    "risk": RISK,
    "priority": ("priority", *RISK),
    "age": ("created_at", "pk"),
    "-age": ("-created_at", "-pk"),
    "number": ("number",),
    "due": ("resolution_due", "pk"),
}


def sla_used_share(incident: Incident, *, now: datetime) -> float:
    """Share of the resolution target consumed: 1.0 is due now, above 1.0 breached.

    Same arithmetic as incidents.sla.sla_resolution_consumed, on the columns of a loaded
    row (no query): target = due - created - paused; used = now - created - paused -
    current pause. Computed here for the page's 25 rows rather than compiled into the
    queue's SQL, where the expression cost more to build than the rows took to read.
    """
    paused = float(incident.paused_seconds)
    current_pause = (now - incident.on_hold_since).total_seconds() if incident.on_hold_since else 0
    target = max((incident.resolution_due - incident.created_at).total_seconds() - paused, 1.0)
    used = (now - incident.created_at).total_seconds() - paused - current_pause
    return max(used, 0.0) / target


def _active_case(field_name: str) -> Subquery:
    return Subquery(
        # At most one active case per incident (a constraint): no ordering needed.
        Escalation.objects.filter(incident=OuterRef("pk"), state__in=ACTIVE_STATES)
        .order_by()
        .values(field_name)[:1]
    )


def support_group_ids(*, user: Any) -> list[int]:
    return list(SupportGroup.objects.filter(members=user).values_list("pk", flat=True))


def _scope(qs: QuerySet[Incident], *, group_ids: list[int]) -> QuerySet[Incident]:
    # Someone in no support group (a team lead, a new hire) sees everything open.
    return qs.filter(assignment_group__in=group_ids) if group_ids else qs


@dataclass
class QueueFilters:
    priority: int | None = None
    service: int | None = None
    assignee: int | None = None
    mine: bool = False
    q: str = ""
    sort: str = "risk"

    @classmethod
    def from_query(cls, data: Any) -> "QueueFilters":
        def number(name: str) -> int | None:
            value = (data.get(name) or "").strip()
            return int(value) if value.isdigit() else None

        sort = data.get("sort") or "risk"
        return cls(
            priority=number("priority"),
            service=number("service"),
            assignee=number("assignee"),
            mine=data.get("mine") in ("1", "on", "true"),
            q=(data.get("q") or "").strip()[:100],
            sort=sort if sort in SORTS else "risk",
        )


def _support_queue_filtered(
    qs: QuerySet[Incident], *, user: Any, group_ids: list[int], filters: QueueFilters
) -> QuerySet[Incident]:
    """The queue's scope and filters, shared by the rows and their count."""
    qs = _scope(qs, group_ids=group_ids)
    if filters.priority:
        qs = qs.filter(priority=filters.priority)
    if filters.service:
        qs = qs.filter(service_id=filters.service)
    if filters.assignee:
        qs = qs.filter(assignee_id=filters.assignee)
    if filters.mine:
        qs = qs.filter(assignee=user)
    if filters.q:
        # Numbers are stored in capitals (INC0001234): a case-sensitive match on the
        # capitalised term finds the same ones without UPPER() over every open row.
        number = filters.q.upper()
        qs = qs.filter(
            Q(number=number) | Q(number__endswith=number) | Q(title__icontains=filters.q)
        )
    return qs


def incident_list_support_queue(
    *, user: Any, group_ids: list[int], filters: QueueFilters
) -> QuerySet[Incident]:
    """Open incidents of the user's groups, riskiest first, whole rows for the table.

    Sliced by the paginator: the slice walks incident_open_risk (or
    incident_open_by_priority) in order and stops after the page, so the annotations
    below are computed for 25 rows, not for every open incident. The filter is on the
    stored open_flag, not on status IN (...): SQLite cannot walk one index in order across
    three status values and would read and sort every open incident. The total comes from
    incident_count_support_queue.
    """
    # Value(True), not True: Django writes `open_flag=True` as a bare WHERE "open_flag",
    # which SQLite does not treat as an equality on the index column; "= 1" it does.
    qs = _support_queue_filtered(
        Incident.objects.filter(open_flag=Value(True)),
        user=user, group_ids=group_ids, filters=filters,
    )  # fmt: skip
    return (
        qs.select_related("service", "assignee")
        .annotate(case_state=_active_case("state"))
        .order_by(*SORTS[filters.sort])
    )


def incident_count_support_queue(
    *, user: Any, group_ids: list[int], filters: QueueFilters, limit: int | None = None
) -> int:
    """How many incidents incident_list_support_queue holds, from index entries alone.

    The same incidents, counted on status IN (...) instead of open_flag: SQLite never
    counts from an index holding a generated column without reading each table row, and a
    search must then fetch every open incident's row for its title. incident_open_count
    holds what the count and the search look at, so a search of 10,000 open incidents
    reads index entries only, on both backends. With `limit`, it stops counting there
    (a badge says "999+"; it need not read 6,000 index entries to say so).
    """
    qs = _support_queue_filtered(
        Incident.objects.filter(status__in=Incident.OPEN_STATUSES),
        user=user, group_ids=group_ids, filters=filters,
    )  # fmt: skip
    # order_by(): a sliced count keeps the default ordering, which would sort them all.
    return qs.order_by()[:limit].count() if limit else qs.count()


def _incident_group() -> Subquery:
    # A scalar lookup of each case's own incident (one primary-key probe per live case),
    # not a join on the group: PostgreSQL would hash every incident the group ever had,
    # closed history included, to keep the few hundred live cases.
    return Subquery(
        Incident.objects.filter(pk=OuterRef("incident_id"))
        .order_by()
        .values("assignment_group_id")[:1]
    )


def _cases(*, group_ids: list[int]) -> QuerySet[Escalation]:
    qs = Escalation.objects.all()
    if group_ids:
        qs = qs.alias(incident_group=_incident_group()).filter(incident_group__in=group_ids)
    return qs


def _decided_by_us(*, group_ids: list[int], user: Any) -> Q:
    """Decisions on the groups' incidents, and the user's own: escalating moves an incident
    to the next level's group, and the decision must not vanish from the desk's tab."""
    return Q(incident_group__in=group_ids) | Q(decided_by=user)


def escalation_list_imminent(*, group_ids: list[int]) -> QuerySet[Escalation]:
    """Imminent cases with the prevention actions so far (two queries per page)."""
    return (
        _cases(group_ids=group_ids)
        .filter(state=S.IMMINENT)
        .select_related("incident__service", "incident__assignee")
        .prefetch_related(
            Prefetch("prevention_actions", queryset=_prevention_with_actor()),
        )
        # The queue's risk order (see RISK), read from the joined incident's columns.
        .order_by(
            on_hold("incident__"), "incident__resolution_due", "incident__priority",
            "created_at", "pk",
        )
    )  # fmt: skip


def _prevention_with_actor():
    from incidents.models import PreventionAction

    return PreventionAction.objects.select_related("actor").order_by("created_at")


def escalation_list_entitlement(*, group_ids: list[int]) -> QuerySet[Escalation]:
    """Requests waiting for the entitlement check, oldest first."""
    return (
        _cases(group_ids=group_ids)
        .filter(state=S.REQUESTED)
        .select_related("incident__service", "incident__assignee", "raised_by")
        .order_by("requested_at", "created_at", "pk")
    )


def escalation_list_recently_decided(
    *, group_ids: list[int], user: Any, now: datetime
) -> QuerySet[Escalation]:
    qs = Escalation.objects.filter(decided_at__gte=now - RECENT_DECISIONS, decided_at__isnull=False)
    if group_ids:
        qs = qs.alias(incident_group=_incident_group()).filter(
            _decided_by_us(group_ids=group_ids, user=user)
        )
    return qs.select_related("incident__service", "decided_by").order_by("-decided_at", "-pk")


def support_tab_counts(*, group_ids: list[int], user: Any, now: datetime) -> dict[str, int]:
    """The three tab badges in one query."""
    waiting = Q(state__in=[S.IMMINENT, S.REQUESTED])
    recent = Q(decided_at__gte=now - RECENT_DECISIONS)
    qs = Escalation.objects.all()
    if group_ids:
        qs = qs.alias(incident_group=_incident_group())
        waiting &= Q(incident_group__in=group_ids)
        recent &= _decided_by_us(group_ids=group_ids, user=user)
    # The WHERE keeps the count to the few live or recent cases, not the whole history.
    return qs.filter(waiting | recent).aggregate(
        imminent=Count("pk", filter=waiting & Q(state=S.IMMINENT)),
        entitlement=Count("pk", filter=waiting & Q(state=S.REQUESTED)),
        decided=Count("pk", filter=recent),
    )


def staff_users() -> QuerySet:
    """People who work incidents: the assignee choices."""
    user_model = get_user_model()
    return (
        user_model.objects.filter(
            is_active=True,
            groups__permissions__codename="work_incident",
            groups__permissions__content_type__app_label="incidents",
        )
        .distinct()
        .order_by("first_name", "username")
    )


def queue_assignee_choices(*, group_ids: list[int], selected: int | None = None) -> QuerySet:
    """The queue's Assignee filter: the people of the user's groups, not every staff member,
    and whoever the filter names now (a manager who took one over, from a shared link).

    Not "whoever holds an open incident of the groups": that reads every open incident's
    row, 850 ms at 100,000 incidents on PostgreSQL (bench_pages)."""
    if not group_ids:
        return staff_users()
    return staff_users().filter(Q(support_groups__in=group_ids) | Q(pk=selected or 0))


def services() -> QuerySet[Service]:
    return Service.objects.order_by("name")


# --- the staff incident page ----------------------------------------------------


@dataclass
class IncidentPage:
    incident: Incident
    case: Escalation | None
    cases: list[Escalation]
    timeline: list[TimelineEntry]
    case_path: list[tuple[str, str, str]] = field(default_factory=list)


def incident_get_for_staff(*, number: str) -> Incident:
    return Incident.objects.select_related(
        "service", "initiator", "assignee", "assignment_group"
    ).get(number=number)


def incident_page(*, incident: Incident, timeline_filter: str = "all") -> IncidentPage:
    """Everything the staff incident page shows, in a fixed number of queries.

    Only the shown case (the active one, else the latest) is drawn in full; the earlier
    ones are one line each. So its prevention actions and IT operations log are fetched
    for it alone, and only when the case query's EXISTS says there is something to show;
    its stage path comes from the timeline already read when that holds every entry.
    """
    from incidents.models import OperationsLog, PreventionAction

    cases = list(
        Escalation.objects.filter(incident=incident)
        .select_related("raised_by", "decided_by", "acknowledged_by", "plan__approved_by")
        .annotate(
            has_prevention=Exists(PreventionAction.objects.filter(escalation=OuterRef("pk"))),
            has_operations_log=Exists(OperationsLog.objects.filter(escalation=OuterRef("pk"))),
        )
        .order_by("-created_at", "-pk")
    )
    for case in cases:
        case.incident = incident  # conditions read the incident: no query per case
    case = next((c for c in cases if c.state in ACTIVE_STATES), None)
    shown = case or (cases[0] if cases else None)
    if shown is not None:
        lookups: list[Any] = ["plan__activities__owner"]  # no query without a plan
        known_empty = shown.__dict__.setdefault("_prefetched_objects_cache", {})
        if shown.has_prevention:
            lookups.append(Prefetch("prevention_actions", queryset=_prevention_with_actor()))
        else:
            known_empty["prevention_actions"] = PreventionAction.objects.none()
        if shown.has_operations_log:
            lookups.append("operations_log__actor")
        else:
            known_empty["operations_log"] = OperationsLog.objects.none()
        prefetch_related_objects([shown], *lookups)
    entries = TimelineEntry.objects.filter(incident=incident).select_related("actor")
    if timeline_filter == "public":
        entries = entries.filter(public=True)
    elif timeline_filter == "internal":
        entries = entries.filter(public=False)
    elif timeline_filter == "escalation":
        entries = entries.filter(escalation__isnull=False)
    timeline = list(entries.order_by("-created_at", "-pk"))
    for entry in timeline:
        entry.change_words = timeline_change_words(entry)
    path: list[tuple[str, str, str]] = []
    if shown is not None and timeline_filter in ("all", "escalation"):
        # Every entry of the case is in the timeline: its path is those, oldest first.
        path = [
            (e.from_state, e.to_state, e.action)
            for e in reversed(timeline)
            if e.escalation_id == shown.pk and e.machine == "escalation"
        ]
    elif shown is not None:
        path = list(
            TimelineEntry.objects.filter(escalation=shown, machine="escalation")
            .order_by("created_at", "pk")
            .values_list("from_state", "to_state", "action")
        )
    return IncidentPage(
        incident=incident, case=case, cases=cases, timeline=timeline, case_path=path
    )


def timeline_change_words(entry: TimelineEntry) -> str:
    """'In progress → On hold' in the machine's own labels; for the first state of a record
    (nothing before it) only that state; empty when nothing moved."""
    if not entry.to_state or entry.from_state == entry.to_state:
        return ""
    labels = dict(
        Escalation.State.choices if entry.machine == "escalation" else Incident.Status.choices
    )
    if entry.machine == "activity":
        labels = {"open": "Open", "done": "Done", "cancelled": "Cancelled"}
    to = labels.get(entry.to_state, entry.to_state)
    return f"{labels.get(entry.from_state, entry.from_state)} → {to}" if entry.from_state else to


def escalation_earlier_cases(*, escalation: Escalation) -> list[Escalation]:
    return list(
        Escalation.objects.filter(incident_id=escalation.incident_id)
        .exclude(pk=escalation.pk)
        .select_related("decided_by")
        .order_by("-created_at")
    )


def may(user: Any, codename: str) -> bool:
    return user.has_perm(perm(codename))


# --- SLA in words ---------------------------------------------------------------


@dataclass(frozen=True)
class SlaBar:
    percent: int  # share of the resolution target consumed, for the bar (capped at 100)
    used: float
    tone: str  # Bootstrap colour: success < 50 %, warning < 100 %, danger when breached
    words: str
    paused: bool


def duration_words(seconds: float) -> str:
    """'2 h 10 min', '3 d 4 h', '35 min', 'under a minute'."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "under a minute"


def sla_bar(*, incident: Incident, used: float, now: datetime) -> SlaBar:
    """The bar and words for an incident whose `used` share is known (sla_used_share for a
    queue row, the SLA engine on the incident and check pages)."""
    paused = incident.on_hold_since is not None
    due = incident.resolution_due + (now - incident.on_hold_since if paused else timedelta(0))
    left = (due - now).total_seconds()
    if used >= 1 or left <= 0:
        tone, words = "danger", f"breached {duration_words(left)} ago"
    else:
        tone = "success" if used < 0.5 else "warning"
        words = f"{duration_words(left)} left"
    if paused:
        words = f"paused · {words}"
    return SlaBar(percent=min(100, round(used * 100)), used=used, tone=tone, words=words,
                  paused=paused)  # fmt: skip


def response_words(*, incident: Incident, now: datetime) -> tuple[str, str]:
    """The response SLA in words and a tone: met, breached, or time left."""
    if incident.responded_at:
        late = incident.responded_at > incident.response_due
        when = timezone.localtime(incident.responded_at).strftime("%d %b %H:%M")
        return (f"responded {when}" + (" (late)" if late else " (in time)"),
                "danger" if late else "success")  # fmt: skip
    left = (incident.response_due - now).total_seconds()
    if left <= 0:
        return f"breached {duration_words(left)} ago", "danger"
    return f"{duration_words(left)} left", "warning" if left < 15 * 60 else "success"
