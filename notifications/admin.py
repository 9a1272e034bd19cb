from django.contrib import admin, messages

from .models import Notification, NotificationPreference
from .services import notification_resend


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event", "incident", "recipient", "channel", "status",
                    "attempts", "sent_at", "short_error"]  # fmt: skip
    list_filter = ["status", "channel", "event"]
    search_fields = ["incident__number", "recipient__username", "recipient__email", "subject"]
    list_select_related = ["incident", "recipient"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    date_hierarchy = "created_at"
    actions = ["resend"]

    @admin.display(description="last error")
    def short_error(self, obj: Notification) -> str:
        return obj.last_error[-120:]

    @admin.action(description="Resend the selected e-mails")
    def resend(self, request, queryset):
        count = 0
        for row in queryset.filter(channel="email").exclude(status=Notification.Status.SENT):
            notification_resend(notification=row, actor=request.user)
            count += 1
        self.message_user(request, f"{count} e-mail(s) queued again.", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False  # rows are written by services, never by hand


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "muted_events", "updated_at"]
    search_fields = ["user__username"]
