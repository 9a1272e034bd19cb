"""`make run` end to end: web, a Celery worker and beat on the embedded broker, stopped by Ctrl-C.

Runs the real `manage.py runall` on a fresh SQLite database and a fresh SQLAlchemy-on-SQLite
broker under a temporary VAR_DIR, exactly as `make run` does, but on a free port.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, *, timeout: float, what: str, log: Path | None = None):
    # Generous bounds: about 30 s in all on an idle machine, but CI shares its two cores.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    tail = "\n".join(log.read_text().splitlines()[-40:]) if log else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def _state_and_session(pid: int) -> tuple[str, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return fields[0], int(fields[3])


def _alive(pid: int) -> bool:
    found = _state_and_session(pid)
    return found is not None and found[0] != "Z"


def _session_members(session_id: int) -> list[int]:
    """Live processes of a session: runall, its three children and the worker's pool."""
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and _alive(int(entry.name))
        and (_state_and_session(int(entry.name)) or ("", 0))[1] == session_id
    ]


def _login_page(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and b"Log in" in response.read()
    except OSError:
        return False


@pytest.fixture
def portal_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_"))}
    env |= {
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "escalation_portal.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("EMAIL_URL", None)  # the default: mail written to files under VAR_DIR/mail
    for command in (["migrate", "--no-input", "-v0"], ["seed_demo", "--if-empty"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
    return env


def test_runall_serves_web_runs_worker_and_beat_and_ctrl_c_stops_all(portal_env, tmp_path):
    port = _free_port()
    log = tmp_path / "runall.log"
    pids: dict[str, str] = {}
    with log.open("w") as out:
        runall = subprocess.Popen(
            [sys.executable, "manage.py", "runall", "--addrport", f"127.0.0.1:{port}"],
            cwd=ROOT, env=portal_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )  # fmt: skip
    try:
        _wait_for(lambda: _login_page(f"http://127.0.0.1:{port}/accounts/login/"),
                  timeout=60, what="the login page", log=log)  # fmt: skip
        output = log.read_text()
        assert "demo12345" in output
        # Links in the e-mails it sends point at this server, not the default port.
        assert f"Links in e-mails: http://127.0.0.1:{port}\n" in output
        pids = dict(re.findall(r"(web|worker|beat) \(pid (\d+)\)", output))
        assert set(pids) == {"web", "worker", "beat"}

        # A task round trip through the embedded broker: the seed queued the demo's e-mails,
        # the worker delivers them as files under VAR_DIR/mail.
        mail = tmp_path / "mail"
        _wait_for(lambda: mail.is_dir() and any(mail.iterdir()), timeout=60,
                  what="the worker to deliver an e-mail", log=log)  # fmt: skip
        assert "Subject: [INC" in next(mail.iterdir()).read_text()
        # Beat is up: it wrote its schedule and is alive.
        _wait_for(lambda: any(tmp_path.glob("celerybeat-schedule*")), timeout=30,
                  what="beat's schedule file", log=log)  # fmt: skip
        assert len(_session_members(runall.pid)) >= 4, log.read_text()

        os.killpg(runall.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        runall.wait(timeout=30)
        _wait_for(lambda: not _session_members(runall.pid), timeout=20,
                  what="web, worker and beat to exit", log=log)  # fmt: skip
    finally:
        if runall.poll() is None or _session_members(runall.pid):
            os.killpg(runall.pid, signal.SIGKILL)
            runall.wait(timeout=5)
    assert [name for name, pid in pids.items() if _alive(int(pid))] == []
    assert "Traceback" not in log.read_text(), log.read_text()


def test_links_in_e_mails_follow_the_address_served():
    from escalation_portal.site_url import site_url_for

    assert site_url_for("127.0.0.1:8010") == "http://127.0.0.1:8010"
    assert site_url_for("0.0.0.0:8000") == f"http://{socket.gethostname()}:8000"
