"""Admin for SLA policies and calendars: editing them recomputes the open incidents."""

from django.contrib import admin, messages

from incidents.models import (
    BusinessCalendar,
    BusinessHours,
    CalendarHoliday,
    Incident,
    SLAEvent,
    SLAPolicy,
    SLAThresholdCrossing,
)
from incidents.sla import sla_recompute_open


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "priority", "response_minutes", "resolution_minutes", "warning_percentages",
        "calendar", "breach_action", "reminder_calendar", "stale_after_hours",
    ]  # fmt: skip
    list_editable = ["response_minutes", "resolution_minutes", "breach_action"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            count = sla_recompute_open(
                incidents=Incident.objects.filter(priority=obj.priority),
                reason=f"The SLA policy for {obj.get_priority_display()} was changed",
            )
            messages.info(request, f"Recomputed the SLA of {count} open incidents.")


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class CalendarHolidayInline(admin.TabularInline):
    model = CalendarHoliday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "time_zone", "holiday_country", "holiday_subdivision"]
    inlines = [BusinessHoursInline, CalendarHolidayInline]


@admin.register(SLAEvent)
class SLAEventAdmin(admin.ModelAdmin):
    list_display = ["incident", "timer", "kind", "at", "reason", "calendar"]
    list_filter = ["timer", "kind"]
    raw_id_fields = ["incident", "actor"]

    def has_change_permission(self, request, obj=None):
        return False  # the timers' history is append-only


@admin.register(SLAThresholdCrossing)
class SLAThresholdCrossingAdmin(admin.ModelAdmin):
    list_display = ["incident", "timer", "percentage", "reached_at", "fired_at", "action"]
    list_filter = ["timer", "percentage"]
    raw_id_fields = ["incident", "escalation"]

    def has_change_permission(self, request, obj=None):
        return False
