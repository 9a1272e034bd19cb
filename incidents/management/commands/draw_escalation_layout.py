"""Lay out the escalation state machine for the incident page (needs Graphviz's `dot`).

`make graph` runs it; commit the file it writes whenever the machine's definition changes
(a system check and a test say when it has).
"""

from django.core.management.base import BaseCommand

from incidents.diagram import LAYOUT_FILE, escalation_layout_draw


class Command(BaseCommand):
    help = "Write incidents/escalation_layout.svg from the Escalation state machine."

    def handle(self, *args, **options) -> None:
        LAYOUT_FILE.write_text(escalation_layout_draw())
        self.stdout.write(f"Wrote {LAYOUT_FILE}")
