"""Where `SECRET_KEY` comes from when the environment does not set one.

Everything signed (sessions, password reset links, unsubscribe links) is only as secret as
this key. A key written in the source is public, so none is: a local install (`make run`,
a management command) makes a random key once and keeps it in `var/secret_key`, readable
by its owner only, and every later start and every process it starts read the same file.
A production install must set `SECRET_KEY` itself; it refuses to start without one, or
with a key anyone can read in this repository.

A local install is one that serves only this machine: `DEBUG` on, or `ALLOWED_HOSTS` naming
loopback only (the default). A server reachable under any other name is production.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Keys that were ever written in this repository (settings.py's former default, the
# .env.example placeholder): anyone can sign with them.
PUBLIC_SECRET_KEYS = frozenset({"dev-only-insecure-key-change-me-in-production", "change-me"})
LOCAL_KEY_FILE = "secret_key"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1", ".localhost"})


def is_local_install(*, debug: bool, allowed_hosts: Iterable[str]) -> bool:
    return debug or all(host.strip().lower() in LOOPBACK_HOSTS for host in allowed_hosts)


def secret_key_choose(*, configured: str, local: bool, var_dir: Path) -> str:
    """The configured key, or on a local install the one kept under `var_dir`.

    Raises ImproperlyConfigured in production when no key, or a public one, is set."""
    configured = configured.strip()
    if configured and configured not in PUBLIC_SECRET_KEYS:
        return configured
    if not local:
        problem = "is not set" if not configured else "is a value published in the source"
        raise ImproperlyConfigured(
            f"SECRET_KEY {problem}: anyone could sign sessions and unsubscribe links. Set "
            "SECRET_KEY to a long random value (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'); see docs/security.md."
        )
    return local_secret_key(var_dir)


def local_secret_key(var_dir: Path) -> str:
    """Read `var_dir/secret_key`, making it (mode 0600) on the first call.

    Several processes may start at once (the web server's workers and the Celery worker):
    the file is created exclusively under a temporary name and linked into place, so exactly
    one key wins and every process reads that one, never a half-written file."""
    path = var_dir / LOCAL_KEY_FILE
    key = _read(path)
    if key:
        return key
    var_dir.mkdir(parents=True, exist_ok=True)
    temporary = var_dir / f".{LOCAL_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    key = _read(path)
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new key made.")
    return key


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
