"""SLA data: calendars, each incident's timer events, the clocks the monitor scans, and the
thresholds it has fired (at most once each, which the database enforces)."""

from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def _validate_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"'{value}' is not a time zone name such as Europe/Berlin.")


class BusinessCalendar(models.Model):
    """When SLA clocks run: around the clock, or business hours in a time zone."""

    class Kind(models.TextChoices):
        ALWAYS = "24x7", "24x7 (every hour counts)"
        BUSINESS_HOURS = "business_hours", "Business hours"

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=16, choices=Kind, default=Kind.BUSINESS_HOURS)
    time_zone = models.CharField(
        max_length=64, default="Europe/Berlin", validators=[_validate_zone]
    )
    holiday_country = models.CharField(
        max_length=3, blank=True, help_text="ISO country code for public holidays, e.g. DE, US."
    )
    holiday_subdivision = models.CharField(
        max_length=8, blank=True, help_text="State or province for regional holidays, e.g. BY."
    )
    # Part of the calendar cache key: any edit (admin saves the parent with its inlines)
    # makes every clock use the new hours at once.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BusinessHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday)
    opens = models.TimeField()
    closes = models.TimeField(help_text="00:00 means until midnight.")

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class CalendarHoliday(models.Model):
    """A closure on top of the country's public holidays (company day off, local feast)."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="custom_holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="one_holiday_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class SLATimer(models.TextChoices):
    RESPONSE = "response", "Response"
    RESOLUTION = "resolution", "Resolution"


class SLAEvent(models.Model):
    """One thing that happened to one timer. Append-only: the history the due times are
    recomputed from whenever priority, policy or calendar change."""

    class Kind(models.TextChoices):
        START = "start", "Started"
        PAUSE = "pause", "Paused"
        RESUME = "resume", "Resumed"
        STOP = "stop", "Stopped"
        CALENDAR = "calendar", "Calendar changed"
        TARGET = "target", "Target changed"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="sla_events"
    )
    timer = models.CharField(max_length=10, choices=SLATimer)
    kind = models.CharField(max_length=10, choices=Kind)
    at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=255, blank=True)
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="On start and calendar events: the calendar from then on (empty: 24x7).",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["incident", "at"], name="sla_event_by_incident")]

    def __str__(self) -> str:
        return f"{self.timer} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class SLAClock(models.Model):
    """The current state of one timer, derived from its events: what the monitor scans.

    `next_check_at` is the moment of the next threshold not yet fired (empty while paused
    or stopped); `schedule` holds every unfired threshold's moment, so the monitor can act
    without recomputing.
    """

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="sla_clocks"
    )
    timer = models.CharField(max_length=10, choices=SLATimer)
    state = models.CharField(max_length=8, choices=State, default=State.RUNNING)
    target_seconds = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    next_check_at = models.DateTimeField(null=True, blank=True)
    schedule = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "timer"], name="one_clock_per_timer")
        ]
        indexes = [
            models.Index(
                fields=["next_check_at"],
                name="sla_clock_next_check",
                condition=models.Q(next_check_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.timer} clock of incident {self.incident_id}: {self.state}"


class SLAThresholdCrossing(models.Model):
    """A warning threshold or the breach (100 %) the monitor acted on: once per incident,
    timer and percentage, even when two monitors run at once."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="sla_crossings"
    )
    timer = models.CharField(max_length=10, choices=SLATimer)
    percentage = models.PositiveSmallIntegerField(help_text="100 is the breach.")
    reached_at = models.DateTimeField(help_text="When the share was reached.")
    fired_at = models.DateTimeField(default=timezone.now, help_text="When the monitor acted.")
    action = models.CharField(max_length=200, blank=True)
    escalation = models.ForeignKey(
        "incidents.Escalation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["reached_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "timer", "percentage"], name="threshold_fires_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.timer} {self.percentage} % of incident {self.incident_id}"
