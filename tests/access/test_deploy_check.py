"""`manage.py check --deploy` is clean with production settings, and cookies are secure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k7#Qz!v9@Lp2$Xw8^Tn4&Rb6*Yc1(Md3)Hf5-Gj0+Ks_e2W%aZ7~uN1=pO4;cV8",
    "ALLOWED_HOSTS": "cdp.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO=https",
    # Never connected to: the checks do not open the database.
    "DATABASE_URL": "postgres://cdp@127.0.0.1:1/cdp",
    "STOREFRONT_ENABLED": "false",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Not the test run's own switches (the browser tests allow async-unsafe ORM calls).
    leave_out = {*PRODUCTION, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in leave_out}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "cdp_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_about_the_development_secret_key():
    env = {**PRODUCTION}
    env.pop("SECRET_KEY")
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "access.W001" in result.stdout + result.stderr


def test_production_cookies_are_secure_and_http_only():
    script = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
        " s.SECURE_SSL_REDIRECT, s.X_FRAME_OPTIONS, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = manage("shell", "-c", script, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split()[:5] == ["True", "True", "True", "True", "DENY"]
    assert "('HTTP_X_FORWARDED_PROTO', 'https')" in result.stdout


@pytest.mark.parametrize("debug", ["false", "true"])
def test_plain_http_development_keeps_cookies_usable(debug):
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE)",
        DEBUG=debug,
        DATABASE_URL=PRODUCTION["DATABASE_URL"],
    )
    assert result.stdout.splitlines()[-1] == "False", result.stderr
