"""Production settings pass Django's deployment checklist, and refuse to start without a secret."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    # Start from a clean slate: none of the developer's or the test run's settings leak in.
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    base |= {"DJANGO_SETTINGS_MODULE": "escalation_portal.settings", "VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "portal.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
    "DATABASE_URL": "postgres://portal@db.example.com:5432/portal",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "EMAIL_URL": "smtp+tls://portal:secret@smtp.example.com:587",
}


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION,
                     tmp_path=tmp_path)  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    without_secret = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}

    result = _manage("check", env=without_secret, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    # No DEBUG at all: the same refusal, so a forgotten variable never means debug mode.
    result = _manage("check", env={}, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_a_weak_secret_key_is_reported(tmp_path):
    # The check really looks: the same run with a guessable key fails.
    weak = PRODUCTION | {"SECRET_KEY": "changeme"}

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=weak, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout
