"""`manage.py graph_transitions` draws both machines with every state."""

import re
import shutil
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.models import FINAL_STATES, DeescalationActivity, EscalationState, Incident
from tests.conftest import service_missing


def _graph(*args: str) -> str:
    out = StringIO()
    call_command("graph_transitions", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("args", [(), ("incidents.Incident", "incidents.Escalation")])
def test_both_machines_with_all_their_states(args):
    dot = _graph(*args)
    assert "cluster_incidents_Incident_status" in dot
    assert "cluster_incidents_Escalation_state" in dot
    for label in [*Incident.Status.labels, *EscalationState.labels]:
        assert f'label="{label}"' in dot or f"label={label}" in dot, label
    for name in ["start_work", "escalate", "classify_major", "confirm_deescalation"]:
        assert name in dot


def test_the_activity_machine_is_drawn_too():
    dot = _graph("incidents")
    assert "cluster_incidents_DeescalationActivity_status" in dot
    for label in DeescalationActivity.Status.labels:
        assert label in dot


def test_exactly_the_final_states_are_drawn_as_final():
    dot = _graph("incidents.Escalation")
    shapes = dict(
        re.findall(r'"incidents\.escalation\.state\.(\w+)" \[label=.* shape=(\w+)\]', dot)
    )
    assert set(shapes) == set(EscalationState.values)
    assert {state for state, shape in shapes.items() if shape == "doublecircle"} == set(
        FINAL_STATES
    )


def test_make_graph_renders_an_svg(tmp_path):
    if shutil.which("dot") is None:  # CI installs it (.ci/run): a skip there would hide this
        service_missing("Graphviz `dot` is not installed")
    _graph("incidents.Incident", "incidents.Escalation", "-o", str(tmp_path / "machines.svg"))
    svg = (tmp_path / "machines.svg").read_text()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    assert "Awaiting entitlement check" in svg
