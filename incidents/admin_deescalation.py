"""Admin for the deescalation and major-incident reference data (imported by admin.py)."""

from django.contrib import admin

from incidents.models import FollowUpAction, PostIncidentReview, Stakeholder, UpdateCadence


@admin.register(UpdateCadence)
class UpdateCadenceAdmin(admin.ModelAdmin):
    list_display = ["priority", "interval_minutes"]
    list_editable = ["interval_minutes"]


@admin.register(Stakeholder)
class StakeholderAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "email", "active", "position"]
    list_editable = ["active", "position"]
    search_fields = ["name", "email", "role"]


class FollowUpInline(admin.TabularInline):
    model = FollowUpAction
    extra = 0
    readonly_fields = ["position", "description", "owner", "due_at"]
    can_delete = False


@admin.register(PostIncidentReview)
class PostIncidentReviewAdmin(admin.ModelAdmin):
    # Reviews are written through the service (it records the timeline); read-only here.
    list_display = ["escalation", "author", "submitted_at"]
    readonly_fields = ["escalation", "summary", "cause", "author", "submitted_at"]
    inlines = [FollowUpInline]

    def has_add_permission(self, request) -> bool:
        return False
