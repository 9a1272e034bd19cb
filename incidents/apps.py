from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents and escalations"

    def ready(self) -> None:
        # Celery's autodiscovery finds only `incidents.tasks`; register the other task module.
        from . import checks, tasks_deescalation  # noqa: F401
