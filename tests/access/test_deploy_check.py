"""`manage.py check --deploy` is clean with production settings, and cookies are secure."""

from __future__ import annotations

import concurrent.futures
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


@pytest.mark.parametrize(
    "secret_key", [None, "", "dev-only-insecure-key-change-me-in-production", "change-me"]
)
def test_production_refuses_to_start_without_a_secret_key_of_its_own(secret_key):
    env = {**PRODUCTION}
    env.pop("SECRET_KEY")
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    result = manage("check", "--deploy", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr


def test_a_local_install_makes_its_key_once_private_and_reuses_it(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS")}
    script = "from django.conf import settings as s; print(s.SECRET_KEY)"
    first = manage("shell", "-c", script, CDP_VAR_DIR=str(tmp_path), **env)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "secret_key"
    key = first.stdout.splitlines()[-1]
    assert key_file.read_text().strip() == key and len(key) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = manage("shell", "-c", script, CDP_VAR_DIR=str(tmp_path), **env)
    assert again.stdout.splitlines()[-1] == key
    # A public key in .env counts as none: the local key is used instead.
    public = manage("shell", "-c", script, CDP_VAR_DIR=str(tmp_path), SECRET_KEY="change-me", **env)
    assert public.stdout.splitlines()[-1] == key


def test_processes_starting_together_share_one_key(tmp_path):
    from cdp_project.core.secret_key import local_secret_key

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: local_secret_key(tmp_path), range(16)))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


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
