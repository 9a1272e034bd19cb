"""Inbox, preferences, and the staff pages: outbox (failed rows, resend) and the mail viewer."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from incidents.roles import is_staff_member

from .forms import NotificationPreferenceForm
from .mail_files import mail_file_messages, mail_message_list
from .models import Notification, NotificationPreference
from .selectors import (
    notification_list_inbox,
    notification_list_outbox,
    notification_unread_count,
)
from .services import (
    notification_mark_all_read,
    notification_mark_read,
    notification_preferences_update,
    notification_resend,
)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users log in first; a signed-in user without a staff role is told no (403),
    not sent to a login page they have already passed."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_staff or is_staff_member(user)):
            raise PermissionDenied("The outbox and the mail viewer are for staff.")
        return view(request, *args, **kwargs)

    return wrapped


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("show") == "unread"
    rows = notification_list_inbox(user=request.user, unread_only=unread_only)
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/inbox.html",
        {
            "page": page,
            "unread": notification_unread_count(user=request.user),
            "unread_only": unread_only,
        },
    )


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    notification_mark_read(notification=notification, user=request.user)
    if request.POST.get("open"):
        return redirect(notification.link)
    return redirect(_next(request, "notifications:inbox"))


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = notification_mark_all_read(user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    return redirect(_next(request, "notifications:inbox"))


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    saved = NotificationPreference.objects.filter(user=request.user).first()
    muted = list(saved.muted_events) if saved else []
    form = NotificationPreferenceForm(request.POST or None, user=request.user, muted=muted)
    if request.method == "POST" and form.is_valid():
        notification_preferences_update(user=request.user, muted_events=form.muted_events())
        messages.success(request, "Your notification preferences are saved.")
        return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})


@staff_required
def outbox(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or Notification.Status.FAILED
    if status not in Notification.Status.values:
        status = Notification.Status.FAILED
    page = Paginator(notification_list_outbox(status=status), 50).get_page(request.GET.get("page"))
    counts = {s: notification_list_outbox(status=s).count() for s in Notification.Status.values}
    return render(
        request,
        "notifications/outbox.html",
        {"page": page, "status": status, "counts": counts, "statuses": Notification.Status},
    )


@staff_required
@require_POST
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification, pk=pk, channel="email")
    notification_resend(notification=notification, actor=request.user)
    messages.success(request, f"E-mail to {notification.recipient} is queued again.")
    return redirect(_next(request, "notifications:outbox"))


@staff_required
def mail_list(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/mail_list.html", {"mails": mail_message_list()})


@staff_required
def mail_detail(request: HttpRequest, name: str) -> HttpResponse:
    mails = mail_file_messages(name=name)
    if mails is None:
        raise Http404("No such mail file.")
    return render(request, "notifications/mail_detail.html", {"name": name, "mails": mails})
