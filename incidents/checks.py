"""System checks: what `manage.py check` (and runserver) should say about this app."""

from django.core import checks


@checks.register()
def escalation_layout_current(app_configs, **kwargs) -> list[checks.CheckMessage]:
    from incidents.diagram import LAYOUT_FILE, escalation_layout_is_current

    if escalation_layout_is_current():
        return []
    return [
        checks.Warning(
            f"{LAYOUT_FILE.name} was not drawn from the current escalation state machine: "
            "the incident page's diagram is out of date.",
            hint="Run `make graph` (needs Graphviz's dot) and commit the file it writes.",
            id="incidents.W001",
        )
    ]
