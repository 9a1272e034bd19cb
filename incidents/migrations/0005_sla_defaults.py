"""Default calendars and policy settings; administrators change them in the admin.

Every priority counts 24x7 by default, so due times are the same as before calendars
existed; the "Office hours" calendar is there to choose. P1 breaches escalate at once,
the others open a request for the entitlement check. Alerts for P2-P5 wait for office
hours; P1 (and any major incident) alert at any hour.
"""

from datetime import time

from django.db import migrations

STALE_AFTER_HOURS = {1: 1, 2: 4, 3: 8, 4: 24, 5: 48}


def seed(apps, schema_editor):
    BusinessCalendar = apps.get_model("incidents", "BusinessCalendar")
    BusinessHours = apps.get_model("incidents", "BusinessHours")
    SLAPolicy = apps.get_model("incidents", "SLAPolicy")

    always, _ = BusinessCalendar.objects.get_or_create(
        name="24x7", defaults={"kind": "24x7", "time_zone": "UTC"}
    )
    office, created = BusinessCalendar.objects.get_or_create(
        name="Office hours",
        defaults={"kind": "business_hours", "time_zone": "Europe/Berlin", "holiday_country": "DE"},
    )
    if created:
        BusinessHours.objects.bulk_create(
            BusinessHours(calendar=office, weekday=day, opens=time(8), closes=time(18))
            for day in range(5)
        )
    for policy in SLAPolicy.objects.all():
        policy.calendar = always
        policy.breach_action = "escalate" if policy.priority == 1 else "request"
        policy.reminder_calendar = None if policy.priority == 1 else office
        policy.stale_after_hours = STALE_AFTER_HOURS.get(policy.priority)
        if not policy.warning_percentages:
            policy.warning_percentages = [50, 75]
        policy.save()


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_sla_engine")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
