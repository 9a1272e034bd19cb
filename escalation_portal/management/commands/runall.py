"""Serve the whole product from one terminal: web, a Celery worker and beat.

`make run` calls this after migrating and loading the demo data. Ctrl-C stops all three.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from escalation_portal.site_url import site_url_for

DEMO_LOGINS = [
    ("initiator", "reports incidents, follows the status page"),
    ("support", "first-level support queue"),
    ("manager", "incident manager board"),
    ("operations", "IT operations queue"),
    ("admin", "administration"),
]


class Command(BaseCommand):
    help = "Run web (runserver), a Celery worker and Celery beat together."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        python = sys.executable
        host = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("SITE_URL", site_url_for(host))
        schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        commands = {
            "web": [python, "manage.py", "runserver", addrport, "--noreload"],
            "worker": [python, "-m", "celery", "-A", "escalation_portal", "worker",
                       "--loglevel=INFO", "--concurrency=2", "-n", "portal@%h"],
            "beat": [python, "-m", "celery", "-A", "escalation_portal", "beat",
                     "--loglevel=INFO", "-s", schedule],
        }  # fmt: skip
        # A shell that starts us in the background ignores SIGINT, and the children would
        # inherit that; a handler of our own resets to the default in every child.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        processes = {
            name: subprocess.Popen(command, env=env, cwd=settings.BASE_DIR)
            for name, command in commands.items()
        }
        self.stdout.write(self.style.SUCCESS(f"\nEscalation Portal: http://{host}/\n"))
        self.stdout.write(
            "Started " + ", ".join(f"{name} (pid {p.pid})" for name, p in processes.items())
        )
        self.stdout.write("Demo logins (password: demo12345):")
        for username, role in DEMO_LOGINS:
            self.stdout.write(f"  {username:<11} {role}")
        self.stdout.write(
            f"Broker: {settings.CELERY_BROKER_URL}\nLinks in e-mails: {env['SITE_URL']}\n"
            "Ctrl-C stops web, worker and beat.\n"
        )

        def stop(*_):
            # Ctrl-C in a terminal reaches the children too; a SIGTERM makes sure the ones
            # that did not get it (kill, a parent's signal) stop as well: warm shutdown.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

        signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
        try:
            while True:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"{name} stopped (exit {process.returncode}); stopping all."
                        )
                        stop()
                        sys.exit(process.returncode or 1)
                time.sleep(0.5)
        except KeyboardInterrupt:
            stop()
