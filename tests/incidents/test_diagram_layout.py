"""The incident page's state-machine picture is laid out ahead of time, not per server.

A server shows the diagram without Graphviz installed: the layout is kept in
incidents/escalation_layout.svg. These tests keep that file true to the machine.
"""

import re
import shutil

from django.core import checks

from incidents import diagram
from incidents.models import EscalationState
from tests.conftest import service_missing


def _ids(svg: str) -> set[str]:
    return {i.replace("&#45;", "-") for i in re.findall(r'<g id="(esc[^"]+)"', svg)}


def test_the_kept_layout_was_drawn_from_the_current_machine():
    # Fails when someone changes Escalation's transitions (or the picture's style) without
    # `make graph`: the page would show a machine that no longer exists.
    assert diagram.escalation_layout_is_current()


def test_the_kept_layout_shows_every_state_and_every_move():
    ids = _ids(diagram.LAYOUT_FILE.read_text())
    for state in EscalationState.values:
        assert f"esc-state-{state}" in ids, state
    for source, target, name in diagram.escalation_transitions():
        if source != target:  # self-loops are listed beside the picture
            assert f"esc-edge-{source}-{target}-{name}" in ids, (source, target, name)


def test_redrawing_gives_the_kept_layout():
    if shutil.which("dot") is None:  # CI installs it (.ci/run): a skip there would hide this
        service_missing("Graphviz `dot` is not installed")
    drawn = diagram.escalation_layout_draw()
    kept = diagram.LAYOUT_FILE.read_text()
    assert drawn.splitlines()[0] == kept.splitlines()[0]  # the same fingerprint
    assert _ids(drawn) == _ids(kept)


def test_a_stale_layout_is_reported_by_the_system_check(tmp_path, monkeypatch):
    stale = tmp_path / "escalation_layout.svg"
    stale.write_text("<!-- graph " + "0" * 64 + " -->\n<svg></svg>")
    monkeypatch.setattr(diagram, "LAYOUT_FILE", stale)
    found = [m for m in checks.run_checks() if m.id == "incidents.W001"]
    assert len(found) == 1
    assert "make graph" in found[0].hint


def test_the_system_check_is_quiet_for_the_kept_layout():
    assert not [m for m in checks.run_checks() if m.id == "incidents.W001"]
