"""The one way a role's page runs one of its registered actions.

Each page keeps a registry: action name -> (form class, or None for a plain button; a
function calling the service and returning the sentence shown on success). This module
validates, calls, and answers: 400 with inline errors, 409 with the page as it is now and
the reason (never a 500), or a redirect with the success message.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse

from incidents.forms import ACTIONS as STAFF_ACTIONS
from incidents.forms import ActionCall
from incidents.services.errors import ActionRefused

from .home import refusal_message

Perform = Callable[[HttpRequest, Any, dict[str, Any]], str]
Registry = dict[str, tuple[type[forms.Form] | None, Perform]]


def page_action(
    request: HttpRequest,
    *,
    registry: Registry,
    action: str,
    target: Any,
    reload: Callable[[], Any],
    render: Callable[..., HttpResponse],
    done: HttpResponse,
) -> HttpResponse:
    """Run `action` on `target`; `render(target, **context)` draws the page again."""
    if action not in registry:
        raise Http404("No such action.")
    form_class, perform = registry[action]
    data: dict[str, Any] = {"seen_state": request.POST.get("seen_state", "")}
    if form_class is not None:
        form = form_class(request.POST, prefix=action)
        if not form.is_valid():
            return render(target, bound={action: form}, status=400)
        data = form.cleaned_data
    try:
        message = perform(request, target, data)
    except ActionRefused as refused:
        return render(reload(), refusal=refusal_message(refused), status=409)
    messages.success(request, message)
    return done


def staff_action(slug: str, *, done: str) -> Perform:
    """A page's action that is the incident page's action `slug`: the same service call.

    The role pages (IM workspace, IT operations workspace) act on a case; they say `done`
    in their own words but must not call the service their own way.
    """
    action = STAFF_ACTIONS[slug]

    def perform(request: HttpRequest, case: Any, data: dict[str, Any]) -> str:
        action.run(
            ActionCall(
                incident=case.incident,
                case=case,
                actor=request.user,
                data=data,
                seen_state=data.get("seen_state") or None,
            )
        )
        return done

    return perform
