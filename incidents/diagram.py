"""The escalation state machine as an SVG, drawn server-side from the FSM definition.

Graphviz lays the machine out; the layout is kept beside this module
(escalation_layout.svg, written by `make graph`) because it changes only when the
definition does, and a server must not need Graphviz's `dot` program installed to show an
incident. The file carries a fingerprint of the graph it was drawn from: a system check
and a test fail when the definition moved on without it. Each page then highlights its
own case with a small <style> block that targets the ids graphviz wrote.
"""

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import graphviz
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from incidents.models import Escalation

S = Escalation.State
START = "start"
LAYOUT_FILE = Path(__file__).with_name("escalation_layout.svg")
FINGERPRINT = re.compile(r"<!-- graph ([0-9a-f]{64}) -->")
# Cases are born in these states by a service, not by a transition (flag, ask, declare).
ENTRY_EDGES = [
    (S.IMMINENT, "flag_imminent", "flagged / SLA warning"),
    (S.REQUESTED, "request", "asked"),
    (S.MAJOR, "classify_major", "declared major"),
]


def _edge_id(source: str, target: str, name: str) -> str:
    return f"esc-edge-{source}-{target}-{name}"


def _node_id(state: str) -> str:
    return f"esc-state-{state}"


def escalation_transitions() -> list[tuple[str, str, str]]:
    """(source, target, name) for every transition of Escalation.state, sorted."""
    field = Escalation._meta.get_field("state")
    edges = {(str(t.source), str(t.target), t.name) for t in field.get_all_transitions(Escalation)}
    return sorted(edges)


def escalation_graph() -> graphviz.Digraph:
    """The machine as a graphviz graph: every state and transition of Escalation.state."""
    final = {str(s) for s in (S.REJECTED, S.AVOIDED, S.DEESCALATED, S.CANCELLED)}
    graph = graphviz.Digraph(
        "escalation",
        graph_attr={"rankdir": "TB", "bgcolor": "transparent", "nodesep": "0.35",
                    "ranksep": "0.45", "fontname": "Helvetica", "id": "esc-graph"},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff",
                   "color": "#adb5bd", "fontname": "Helvetica", "fontsize": "11",
                   "height": "0.35"},
        edge_attr={"color": "#adb5bd", "fontname": "Helvetica", "fontsize": "9",
                   "fontcolor": "#6c757d", "arrowsize": "0.6"},
    )  # fmt: skip
    graph.node(START, "", shape="circle", width="0.15", height="0.15", fixedsize="true",
               fillcolor="#6c757d", color="#6c757d", id=_node_id(START))  # fmt: skip
    for state in S:
        if state == S.CANCELLED:
            continue
        graph.node(
            str(state),
            state.label,
            id=_node_id(state),
            peripheries="2" if str(state) in final else "1",
        )
    with graph.subgraph(name="ends") as ends:
        # Cancelled is reachable from every active state: at the bottom it crosses nothing.
        ends.attr(rank="sink")
        ends.node(str(S.CANCELLED), S.CANCELLED.label, id=_node_id(S.CANCELLED), peripheries="2")
    for target, name, label in ENTRY_EDGES:
        graph.edge(START, str(target), label=label, style="dashed", id=_edge_id("", target, name))
    for source, target, name in escalation_transitions():
        if source == target:
            continue  # self-loops (prevention, acknowledge, log) are listed beside the diagram
        # `cancel` leaves every active state: one faint edge each keeps the picture readable.
        faint = name == "cancel"
        graph.edge(
            source,
            target,
            label="" if faint else name.replace("_", " "),
            id=_edge_id(source, target, name),
            style="dotted" if faint else "solid",
            constraint="false" if faint else "true",
        )
    return graph


def graph_fingerprint(graph: graphviz.Digraph) -> str:
    return hashlib.sha256(graph.source.encode()).hexdigest()


def escalation_layout_draw() -> str:
    """Lay the machine out with graphviz `dot` (needs it installed): the layout file's text."""
    graph = escalation_graph()
    svg = graph.pipe(format="svg", engine="dot").decode()
    svg = svg[svg.index("<svg") :]
    # Scale with its container instead of graphviz's fixed points.
    svg = re.sub(r'<svg width="[^"]+" height="[^"]+"', '<svg class="esc-diagram"', svg, count=1)
    return f"<!-- graph {graph_fingerprint(graph)} -->\n{svg}"


def escalation_layout_is_current() -> bool:
    """Whether the kept layout was drawn from today's definition of the machine."""
    found = FINGERPRINT.match(LAYOUT_FILE.read_text()) if LAYOUT_FILE.exists() else None
    return bool(found) and found.group(1) == graph_fingerprint(escalation_graph())


@lru_cache(maxsize=1)
def escalation_layout() -> str:
    """The kept layout as an <svg> element (read once per process)."""
    svg = LAYOUT_FILE.read_text()
    return svg[svg.index("<svg") :]


def escalation_diagram(*, current: str | None, path: Iterable[tuple[str, str, str]]) -> SafeString:
    """The layout with `current` highlighted and the states and moves of `path` marked.

    `path` is this case's timeline: (from_state, to_state, action) rows, oldest first.
    """
    visited: set[str] = set()
    taken: set[str] = set()
    for source, target, name in path:
        if target:
            visited.add(target)
        if source == target:
            continue
        taken.add(_edge_id(source or "", target, name))
    rules = []
    for state in sorted(visited):
        rules.append(f"#{_node_id(state)} path, #{_node_id(state)} polygon "
                     "{fill:#e7f1ff;stroke:#0d6efd}")  # fmt: skip
    for edge in sorted(taken):
        rules.append(f"#{edge} path {{stroke:#0d6efd;stroke-width:2}} "
                     f"#{edge} polygon {{fill:#0d6efd;stroke:#0d6efd}} "
                     f"#{edge} text {{fill:#0d6efd}}")  # fmt: skip
    if current:
        node = _node_id(escape(current))
        rules.append(f"#{node} path, #{node} polygon {{fill:#0d6efd;stroke:#0a58ca}} "
                     f"#{node} text {{fill:#fff;font-weight:bold}}")  # fmt: skip
    style = f"<style>{' '.join(rules)}</style>" if rules else ""
    layout = escalation_layout()
    head_end = layout.index(">") + 1
    title = (
        f"<title>Escalation state machine; this case is {escape(current)}</title>"
        if current
        else "<title>Escalation state machine</title>"
    )
    # Safe: graphviz output of our own state labels, plus CSS built from fixed ids.
    return mark_safe(layout[:head_end] + title + style + layout[head_end:])
