"""Where each user lands after logging in, and the role check the staff pages share."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from incidents.roles import perm
from incidents.services.errors import ActionRefused, IncidentChanged

# In this order: a user with several roles starts at the first; the nav offers the rest.
ROLE_HOMES = [
    ("check_entitlement", "support-queue"),
    ("manage_deescalation", "manager-board"),
    ("operate_major", "operations-queue"),
]


def role_required(codename: str) -> Callable:
    """Log in first, then hold `codename` or get a 403: staff pages are for their role."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(perm(codename)):
                raise PermissionDenied("This page is for another role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def home_url_for(user) -> str:
    for codename, name in ROLE_HOMES:
        if user.has_perm(perm(codename)):
            try:
                return reverse(name)
            except NoReverseMatch:  # that role's pages are not installed (yet)
                continue
    return reverse("my-incidents")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect(home_url_for(request.user))


def refusal_message(refused: ActionRefused) -> str:
    """The sentence to show; a conflict always says so first, then why."""
    if isinstance(refused, IncidentChanged) and CHANGED not in refused.message:
        return f"{CHANGED}. {refused.message}"
    return refused.message


CHANGED = "This incident changed while you were looking"
