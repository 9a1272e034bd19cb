"""Every transition of the three state machines, from every state, for every role.

Who may run which transition from which state is declared once, in TABLE. The cases are
generated from what django_fsm reports, so a new transition, or a new source state of an
existing one, fails `test_the_table_classifies_every_transition` (and the cells from its
states) until someone decides who may run it.

Each cell is checked twice: `has_transition_perm` (what the pages use to show buttons) and
the real service, run in a savepoint that is rolled back afterwards. Allowed means the
service moves the object to the target and writes one timeline row for it; refused means
the service raises PermissionDenied or ActionRefused (a sentence for the user) and leaves
no trace. The objects are set up so that the transition's conditions hold (a plan with an
activity, an acknowledged major incident, finished activities): conditions have their own
tests in test_transition_conditions.py.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django_fsm import has_transition_perm

from incidents.models import (
    ACTIVE_STATES,
    FINAL_STATES,
    DeescalationActivity,
    Escalation,
    Incident,
    TimelineEntry,
)
from incidents.services import deescalation as plans
from incidents.services import escalations, incidents, operations
from incidents.services.errors import ActionRefused
from notifications.models import Notification

from .states import activity_in, escalation_in, incident_in

# --- the roles -----------------------------------------------------------------------
# Attribute names of tests.incidents.states.Cast. The initiator is the person who reported
# the incident under test; "other_initiator" reported none of it. In the activity machine
# `support` is the activity's owner.
INI, OTHER, FLS, IM, OPS, SU = ROLES = (
    "initiator", "other_initiator", "support", "manager", "operations", "superuser",
)  # fmt: skip
STAFF = frozenset({FLS, IM, OPS, SU})
INITIATOR_OR_STAFF = STAFF | {INI}

I = Incident.Status  # noqa: E741
E = Escalation.State
A = DeescalationActivity.Status

# --- the table: machine -> transition -> {source state: roles allowed there} ----------------
TABLE: dict[str, dict[str, dict[str, frozenset[str]]]] = {
    "incident": {
        "start_work": {I.NEW: STAFF},
        "put_on_hold": {I.IN_PROGRESS: STAFF},
        "resume": {I.ON_HOLD: INITIATOR_OR_STAFF},
        "resolve": {I.IN_PROGRESS: STAFF, I.ON_HOLD: STAFF},
        "reopen": {I.RESOLVED: INITIATOR_OR_STAFF},
        "close": {I.RESOLVED: INITIATOR_OR_STAFF},
        "cancel": {I.NEW: INITIATOR_OR_STAFF, I.IN_PROGRESS: INITIATOR_OR_STAFF},
    },
    "escalation": {
        "record_prevention": {E.IMMINENT: frozenset({FLS, SU})},
        "request": {E.IMMINENT: frozenset({INI, FLS, SU})},
        "avoid": {E.IMMINENT: frozenset({FLS, SU}), E.REQUESTED: frozenset({FLS, SU})},
        "reject": {E.REQUESTED: frozenset({FLS, SU})},
        "escalate": {E.REQUESTED: frozenset({FLS, SU})},
        "classify_major": {
            state: frozenset({FLS, IM, SU})
            for state in (E.IMMINENT, E.REQUESTED, E.ESCALATED, E.PLAN_SUBMITTED, E.DEESCALATING)
        },
        "acknowledge": {E.MAJOR: frozenset({OPS, SU})},
        "escalate_further": {E.MAJOR: frozenset({OPS, SU})},
        "log_action": {E.MAJOR: frozenset({OPS, SU})},
        "hand_over": {E.MAJOR: frozenset({OPS, SU})},
        "submit_plan": {E.ESCALATED: frozenset({IM, SU})},
        "return_plan": {E.PLAN_SUBMITTED: frozenset({IM, SU})},
        "approve_plan": {E.PLAN_SUBMITTED: frozenset({IM, SU})},
        "confirm_deescalation": {E.DEESCALATING: frozenset({IM, SU})},
        "cancel": {state: frozenset({FLS, IM, SU}) for state in ACTIVE_STATES},
    },
    "activity": {
        "complete": {A.OPEN: frozenset({FLS, IM, SU})},  # the owner, or an incident manager
        "cancel": {A.OPEN: frozenset({IM, SU})},
    },
}

# --- the machines, how to reach a state, and the service behind each transition -------------
MACHINES: dict[str, tuple[type, str]] = {
    "incident": (Incident, "status"),
    "escalation": (Escalation, "state"),
    "activity": (DeescalationActivity, "status"),
}
BUILD: dict[str, Callable[..., Any]] = {
    "incident": lambda state, cast, name: incident_in(state, cast),
    "escalation": lambda state, cast, name: escalation_in(state, cast, for_transition=name),
    "activity": lambda state, cast, name: activity_in(state, cast),
}
Service = Callable[[Any, Any, str], Any]  # (object, actor, the state the page showed)
SERVICES: dict[str, dict[str, Service]] = {
    "incident": {
        "start_work": lambda o, u, s: incidents.incident_start_work(
            incident=o, actor=u, seen_state=s
        ),
        "put_on_hold": lambda o, u, s: incidents.incident_put_on_hold(
            incident=o, actor=u, reason="Which mailbox?", seen_state=s
        ),
        "resume": lambda o, u, s: incidents.incident_resume(incident=o, actor=u, seen_state=s),
        "resolve": lambda o, u, s: incidents.incident_resolve(
            incident=o, actor=u, note="Relay restarted", seen_state=s
        ),
        "reopen": lambda o, u, s: incidents.incident_reopen(
            incident=o, actor=u, reason="Down again", seen_state=s
        ),
        "close": lambda o, u, s: incidents.incident_close(incident=o, actor=u, seen_state=s),
        "cancel": lambda o, u, s: incidents.incident_cancel(
            incident=o, actor=u, reason="Reported twice", seen_state=s
        ),
    },
    "escalation": {
        "record_prevention": lambda o, u, s: escalations.escalation_record_prevention(
            escalation=o, actor=u, kind="note", note="Restarted the relay", seen_state=s
        ),
        # Asking acts on the incident: it turns an imminent case into a request, or opens one.
        "request": lambda o, u, s: escalations.escalation_request(
            incident=o.incident, actor=u, reason="Still down"
        ),
        "avoid": lambda o, u, s: escalations.escalation_avoid(
            escalation=o, actor=u, reason="Relay restarted", seen_state=s
        ),
        "reject": lambda o, u, s: escalations.escalation_reject(
            escalation=o, actor=u, reason="Within targets", seen_state=s
        ),
        "escalate": lambda o, u, s: escalations.escalation_escalate(
            escalation=o, actor=u, reason="Close to breach", seen_state=s
        ),
        "classify_major": lambda o, u, s: escalations.escalation_classify_major(
            incident=o.incident, actor=u, reason="All mail down", seen_state=s
        ),
        "acknowledge": lambda o, u, s: operations.major_acknowledge(
            escalation=o, actor=u, seen_state=s
        ),
        "escalate_further": lambda o, u, s: operations.major_escalate_further(
            escalation=o, actor=u, stakeholders="CIO", note="Mail down for all", seen_state=s
        ),
        "log_action": lambda o, u, s: operations.major_log_action(
            escalation=o, actor=u, note="Rerouted mail", seen_state=s
        ),
        "hand_over": lambda o, u, s: operations.major_hand_over(
            escalation=o, actor=u, note="Mail flows on the standby", seen_state=s
        ),
        "submit_plan": lambda o, u, s: plans.plan_submit(escalation=o, actor=u, seen_state=s),
        "return_plan": lambda o, u, s: plans.plan_return(
            escalation=o, actor=u, comment="Add a due time for the check", seen_state=s
        ),
        "approve_plan": lambda o, u, s: plans.plan_approve(escalation=o, actor=u, seen_state=s),
        "confirm_deescalation": lambda o, u, s: plans.deescalation_confirm(
            escalation=o, actor=u, note="Mail flows again", seen_state=s
        ),
        "cancel": lambda o, u, s: escalations.escalation_cancel(
            escalation=o, actor=u, reason="Raised twice", seen_state=s
        ),
    },
    "activity": {
        "complete": lambda o, u, s: plans.activity_complete(activity=o, actor=u, note="Done"),
        "cancel": lambda o, u, s: plans.activity_cancel(activity=o, actor=u, reason="Not needed"),
    },
}


def discovered(machine: str) -> dict[str, dict[str, str]]:
    """transition name -> {source state: target state}, as django_fsm knows them."""
    model, field_name = MACHINES[machine]
    found: dict[str, dict[str, str]] = {}
    for t in model._meta.get_field(field_name).get_all_transitions(model):
        found.setdefault(t.name, {})[t.source] = t.target
    return found


def states_of(machine: str) -> list[str]:
    model, field_name = MACHINES[machine]
    return [value for value, _label in model._meta.get_field(field_name).choices]


def set_up_for(machine: str, name: str, state: str) -> str:
    """Which set-up a cell needs so that its transition's conditions hold: only a major
    incident differs (acknowledging needs it unacknowledged, the rest acknowledged)."""
    if (machine, state) == ("escalation", E.MAJOR) and name == "acknowledge":
        return "acknowledge"
    if (machine, state) == ("escalation", E.DEESCALATING):
        return "confirm_deescalation"  # the activity done; nothing else from here minds
    return ""


# One test per starting situation, checking every transition from it for every role: each
# cell runs in a rolled-back savepoint, so one set-up serves them all (and the suite stays
# fast on PostgreSQL).
SITUATIONS: dict[tuple[str, str, str], list[str]] = {}
for _machine in MACHINES:
    for _state in states_of(_machine):
        for _name in sorted(discovered(_machine)):
            SITUATIONS.setdefault(
                (_machine, _state, set_up_for(_machine, _name, _state)), []
            ).append(_name)
CASES = [
    pytest.param(machine, state, hint, id=f"{machine}.from-{state}" + (f"-for-{hint}" * bool(hint)))
    for machine, state, hint in SITUATIONS
]


def test_the_table_classifies_every_transition():
    for machine in MACHINES:
        fsm = {name: set(sources) for name, sources in discovered(machine).items()}
        table = {name: set(sources) for name, sources in TABLE[machine].items()}
        assert table == fsm, (
            f"The {machine} machine and TABLE disagree: classify every transition and source "
            "state in TABLE (who may run it from where) and give it a service in SERVICES."
        )
        assert set(SERVICES[machine]) == set(fsm)
        # Wildcard sources ("*", "+") would hide which states a transition starts from.
        assert all(source in states_of(machine) for sources in fsm.values() for source in sources)


def test_the_matrix_is_not_vacuous():
    """Every role may do something somewhere, and every transition is refused to someone."""
    allowed = [
        roles for machine in TABLE.values() for t in machine.values() for roles in t.values()
    ]
    assert set().union(*allowed) == {INI, FLS, IM, OPS, SU}
    assert all(roles != set(ROLES) for roles in allowed)


def _run_in_savepoint(machine: str, name: str, obj: Any, user: Any, seen: str) -> str:
    """Run the service, describe what a user would notice, and roll everything back."""
    model, field_name = MACHINES[machine]
    last_entry = TimelineEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    notifications = Notification.objects.count()
    with transaction.atomic():
        try:
            SERVICES[machine][name](obj, user, seen)
        except (PermissionDenied, ActionRefused) as exc:
            after = getattr(model.objects.get(pk=obj.pk), field_name)
            traces = TimelineEntry.objects.filter(pk__gt=last_entry).count() + (
                Notification.objects.count() - notifications
            )
            outcome = f"refused:{type(exc).__name__}" if (after, traces) == (seen, 0) else (
                f"refused but left a trace: {seen} -> {after}, {traces} new rows"
            )  # fmt: skip
        else:
            after = getattr(model.objects.get(pk=obj.pk), field_name)
            entries = TimelineEntry.objects.filter(
                pk__gt=last_entry, machine=machine, action=name, from_state=seen, to_state=after
            ).count()
            opened = (
                Escalation.objects.filter(incident=obj.incident, state__in=ACTIVE_STATES)
                .exclude(pk=obj.pk)
                .exists()
                if machine == "escalation"
                else False
            )
            outcome = f"done:{after}:{entries} timeline rows" + (":opened a new case" * opened)
        transaction.set_rollback(True)
    return outcome


def _check_cell(machine: str, name: str, state: str, obj: Any, cast: Any) -> list[str]:
    if name not in TABLE[machine]:
        return [f"{machine}.{name} is not classified in TABLE"]
    allowed = TABLE[machine][name].get(state, frozenset())
    target = discovered(machine)[name].get(state)
    problems = []
    for role in ROLES:
        user = getattr(cast, role)
        may = has_transition_perm(getattr(obj, name), user)
        if may != (role in allowed):
            problems.append(f"{role}: has_transition_perm is {may}, TABLE says {role in allowed}")

        outcome = _run_in_savepoint(machine, name, obj, user, state)
        if role in allowed:
            expected = {f"done:{target}:1 timeline rows"}
        elif any(role in roles for roles in TABLE[machine][name].values()):
            # They may run it, only not from here: a sentence, not "forbidden".
            expected = {"refused:IncidentChanged", "refused:ActionRefused"}
        else:
            expected = {
                "refused:PermissionDenied", "refused:IncidentChanged", "refused:ActionRefused",
            }  # fmt: skip
        if (machine, name) == ("escalation", "request") and state in FINAL_STATES:
            # Asking again after a case ended opens a new case and leaves this one alone.
            expected |= {f"done:{state}:0 timeline rows:opened a new case"}
        if outcome not in expected:
            problems.append(f"{role}: the service gave {outcome!r}, expected one of {expected}")
    return [f"{machine}.{name} from {state}: {problem}" for problem in problems]


@pytest.mark.parametrize(("machine", "state", "hint"), CASES)
def test_every_transition_from(cast, machine, state, hint):
    obj = BUILD[machine](state, cast, hint)
    problems = [
        problem
        for name in SITUATIONS[(machine, state, hint)]
        for problem in _check_cell(machine, name, state, obj, cast)
    ]
    assert not problems, "\n".join(problems)
