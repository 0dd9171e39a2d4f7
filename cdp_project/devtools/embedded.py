"""Embedded services for development and tests: PostgreSQL from `pgserver`, and a
filesystem Celery broker, both kept under `var/`.

They are used only when `DATABASE_URL` / `CELERY_BROKER_URL` are not set. Production
points both variables at real servers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

from cdp_project.devtools import filesystem_broker

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE_NAME = "cdp"


def embedded_database_url(var_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL under `var_dir/pgdata` and return its URL.

    pgserver keeps a list of the processes that hold the server and stops it when the
    last one exits, so a management command started on its own starts and stops it,
    while `make run` holds it for the web server and the worker it starts.
    """
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then
    # keeps its lock file under /tmp, which is what we want.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # imported lazily: only the embedded path needs it
    import psycopg

    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = var_dir / "pgdata"
    _forget_dead_holders(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir or pgdata
    with psycopg.connect(
        host=str(socket_dir), dbname="postgres", user="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [EMBEDDED_DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE_NAME}"')
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{EMBEDDED_DATABASE_NAME}"


#: The embedded broker's URL: kombu's filesystem transport, publishing by rename and
#: setting unreadable messages aside (cdp_project/devtools/filesystem_broker.py).
FILESYSTEM_BROKER_URL = f"{filesystem_broker.SCHEME}://"


def _forget_dead_holders(pgdata: Path) -> None:
    """pgserver stops the server when the last process on its list exits; a process killed
    with SIGKILL never takes itself off, and then no later one ever stops the server. Drop
    the processes that are gone before joining."""
    import psutil
    from pgserver.postgres_server import PostgresServer

    holders = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = json.loads(holders.read_text())
        except (FileNotFoundError, ValueError):
            return
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            holders.write_text(json.dumps(alive))
            logger.info("embedded_db_holders_pruned gone=%s", sorted(set(pids) - set(alive)))


def filesystem_broker_options(var_dir: Path) -> dict[str, str | bool]:
    """Transport options for the filesystem broker: one shared folder, so the web process,
    the worker and beat on one machine exchange tasks without a server. Messages a worker
    cannot read are moved to `broker/unreadable/` (counted on `/health/`)."""
    queue = var_dir / "broker" / "queue"
    processed = var_dir / "broker" / "processed"
    # The exchange tables; kombu's default is a `control` folder in the working directory.
    control = var_dir / "broker" / "control"
    unreadable = var_dir / "broker" / "unreadable"
    # Beside the queue, on its file system (the rename into it is what makes a message
    # appear whole), so that the queue folder holds messages only.
    incoming = var_dir / "broker" / "incoming"
    claimed = var_dir / "broker" / "claimed"
    for folder in (queue, processed, control, unreadable, incoming, claimed):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "store_processed": False,
        "control_folder": str(control),
        "unreadable_folder": str(unreadable),
        "incoming_folder": str(incoming),
        "claimed_folder": str(claimed),
    }
