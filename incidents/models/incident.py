"""The incident and its lifecycle (DESIGN.md section 2, first machine)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from incidents.roles import PERMISSIONS, perm

from .reference import Impact, Priority, Urgency


def _is_initiator_or(codename: str):
    """A transition permission: the incident's own initiator, or staff holding `codename`."""

    def check(instance: "Incident", user) -> bool:
        return bool(
            user.is_authenticated
            and (user.pk == instance.initiator_id or user.has_perm(perm(codename)))
        )

    check.__name__ = f"initiator_or_{codename}"
    return check


def _is_staff_with(codename: str):
    def check(instance: "Incident", user) -> bool:
        return bool(user.is_authenticated and user.has_perm(perm(codename)))

    check.__name__ = f"staff_with_{codename}"
    return check


# The open statuses, for the partial indexes in Incident.Meta (Incident.OPEN_STATUSES is
# not defined yet while its Meta is read).
OPEN_STATUSES_ = ["new", "in_progress", "on_hold"]


class IncidentQuerySet(models.QuerySet):
    def open(self) -> "IncidentQuerySet":
        return self.filter(status__in=Incident.OPEN_STATUSES)


class Incident(ConcurrentTransitionMixin, models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_PROGRESS = "in_progress", "In progress"
        ON_HOLD = "on_hold", "On hold (awaiting caller)"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    OPEN_STATUSES = (Status.NEW, Status.IN_PROGRESS, Status.ON_HOLD)

    number = models.CharField(max_length=12, unique=True, null=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField()
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reported_incidents"
    )
    service = models.ForeignKey("incidents.Service", on_delete=models.PROTECT)
    impact = models.PositiveSmallIntegerField(choices=Impact)
    urgency = models.PositiveSmallIntegerField(choices=Urgency)
    priority = models.PositiveSmallIntegerField(choices=Priority)
    status = FSMField(choices=Status, default=Status.NEW, protected=True)
    support_level = models.PositiveSmallIntegerField(default=1)
    assignment_group = models.ForeignKey(
        "incidents.SupportGroup", null=True, blank=True, on_delete=models.SET_NULL
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_incidents",
    )
    is_major = models.BooleanField(default=False)

    # SLA: due times are stored in UTC; paused time accrues while on hold.
    response_due = models.DateTimeField()
    resolution_due = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    on_hold_since = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    last_progress_at = models.DateTimeField(default=timezone.now)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # status IN the open statuses, stored by the database, for the queue's indexes. SQLite
    # uses a partial index only when it can prove the query implies the index's WHERE, and
    # it cannot for the status values Django binds as parameters; an equality on this
    # column is an ordinary index prefix on both backends. Read is_open (the property) in
    # Python: this column is only as fresh as the last read from the database.
    open_flag = models.GeneratedField(
        expression=Q(status__in=OPEN_STATUSES_),
        output_field=models.BooleanField(),
        db_persist=True,
        editable=False,
    )

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "resolution_due"], name="incident_open_by_due"),
            models.Index(fields=["initiator", "-created_at"], name="incident_by_initiator"),
            # The support queue (incidents.selectors.RISK): the open incidents lead each
            # index (open_flag = true), in the order the page reads them, so a page of 25
            # rows costs the same with 100 or 10,000 open incidents and the count is an
            # index-only scan that skips the closed history. Plain indexes, not partial
            # ones: SQLite matches those only for literal status values (see open_flag).
            models.Index(
                F("assignment_group"),
                F("open_flag"),
                ExpressionWrapper(Q(on_hold_since__isnull=False), output_field=BooleanField()),
                F("resolution_due"),
                F("priority"),
                F("id"),
                name="incident_open_risk",
            ),
            # Someone in no support group sees every open incident in the same order.
            models.Index(
                F("open_flag"),
                ExpressionWrapper(Q(on_hold_since__isnull=False), output_field=BooleanField()),
                F("resolution_due"),
                F("priority"),
                F("id"),
                name="incident_open_risk_all",
            ),
            # Filtered by priority, sorted by age (or by risk within the priority).
            models.Index(
                fields=["assignment_group", "open_flag", "priority", "created_at", "id"],
                name="incident_open_by_priority",
            ),
            # The queue's count (incidents.selectors.incident_count_support_queue): with
            # the priority filter and the search's columns in the index, the paginator
            # counts from index entries without fetching a row, on both backends.
            models.Index(
                fields=["assignment_group", "status", "priority", "number", "title"],
                name="incident_open_count",
            ),
        ]
        permissions = list(PERMISSIONS.items())

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    # --- lifecycle: bodies set fields in memory only; services persist and record ---

    @transition(
        field=status,
        source=Status.NEW,
        target=Status.IN_PROGRESS,
        permission=_is_staff_with("work_incident"),
    )
    def start_work(self, *, by) -> None:
        now = timezone.now()
        self.responded_at = self.responded_at or now
        self.assignee = self.assignee or by

    @transition(
        field=status,
        source=Status.IN_PROGRESS,
        target=Status.ON_HOLD,
        permission=_is_staff_with("work_incident"),
    )
    def put_on_hold(self) -> None:
        self.on_hold_since = timezone.now()

    @transition(
        field=status,
        source=Status.ON_HOLD,
        target=Status.IN_PROGRESS,
        permission=_is_initiator_or("work_incident"),
    )
    def resume(self) -> None:
        # The caller answered (or staff resumed): the resolution clock runs again.
        self._end_pause(timezone.now())

    @transition(
        field=status,
        source=[Status.IN_PROGRESS, Status.ON_HOLD],
        target=Status.RESOLVED,
        permission=_is_staff_with("work_incident"),
    )
    def resolve(self, *, note: str) -> None:
        now = timezone.now()
        self._end_pause(now)
        self.resolved_at = now
        self.resolution_note = note
        self.responded_at = self.responded_at or now

    def _end_pause(self, now: datetime) -> None:
        # An on-hold incident whose pause start was never recorded (imported, or put on hold
        # by an old release) accrues no pause rather than failing the move.
        if self.on_hold_since is not None:
            paused = max(now - self.on_hold_since, timedelta(0))
            self.paused_seconds += int(paused.total_seconds())
            if self.resolution_due is not None:
                self.resolution_due += paused
        self.on_hold_since = None

    @transition(
        field=status,
        source=Status.RESOLVED,
        target=Status.IN_PROGRESS,
        permission=_is_initiator_or("work_incident"),
    )
    def reopen(self) -> None:
        self.resolved_at = None

    @transition(
        field=status,
        source=Status.RESOLVED,
        target=Status.CLOSED,
        permission=_is_initiator_or("work_incident"),
    )
    def close(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=status,
        source=[Status.NEW, Status.IN_PROGRESS],
        target=Status.CANCELLED,
        permission=_is_initiator_or("work_incident"),
    )
    def cancel(self) -> None:
        self.closed_at = timezone.now()
