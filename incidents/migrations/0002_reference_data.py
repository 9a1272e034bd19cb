"""Seed the roles with their permissions, ServiceNow's priority matrix, SLA targets and the
escalation procedure. Administrators edit all of it afterwards in the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from incidents.roles import ROLE_PERMISSIONS

MATRIX = {
    (1, 1): 1, (1, 2): 2, (1, 3): 3,
    (2, 1): 2, (2, 2): 3, (2, 3): 4,
    (3, 1): 3, (3, 2): 4, (3, 3): 5,
}  # fmt: skip

# priority: (response minutes, resolution minutes)
SLA_TARGETS = {1: (15, 240), 2: (30, 480), 3: (60, 1440), 4: (240, 4320), 5: (480, 10080)}


def seed(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="incidents", codename__in=codenames)
        )

    PriorityRule = apps.get_model("incidents", "PriorityRule")
    for (impact, urgency), priority in MATRIX.items():
        PriorityRule.objects.update_or_create(
            impact=impact, urgency=urgency, defaults={"priority": priority}
        )

    SLAPolicy = apps.get_model("incidents", "SLAPolicy")
    for priority, (response, resolution) in SLA_TARGETS.items():
        SLAPolicy.objects.update_or_create(
            priority=priority,
            defaults={
                "response_minutes": response,
                "resolution_minutes": resolution,
                "warning_percentages": [50, 75],
            },
        )

    EscalationProcedure = apps.get_model("incidents", "EscalationProcedure")
    for priority in range(1, 6):
        EscalationProcedure.objects.update_or_create(
            priority=priority, defaults={"functional": True, "hierarchical": priority <= 3}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
