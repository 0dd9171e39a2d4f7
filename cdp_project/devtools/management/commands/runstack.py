"""`make run`: migrate, make sure the demo login and source exist, then run the web server, a
Celery worker and beat under a supervisor (cdp_project/devtools/supervisor.py) that restarts
whichever dies, until Ctrl-C, and stop everything it started."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from cdp_project.access.actors import Actor
from cdp_project.devtools.demo_examples import (
    demo_campaigns_activate,
    demo_segments_create,
    email_stays_local,
)
from cdp_project.devtools.demo_store import DEMO_SOURCE, StoreSender, StoreSimulation
from cdp_project.devtools.embedded import embedded_database_ensure
from cdp_project.devtools.storefront import storefront_write_key
from cdp_project.devtools.supervisor import (
    GaveUp,
    Program,
    StackLock,
    StackRunning,
    Supervisor,
    stack_answers,
)
from cdp_project.devtools.webserver import web_server_command
from ingestion import selectors, services
from ingestion.models import Event, Source
from ingestion.selectors import events_backlog
from profiles.computed import (
    profiles_engagement_decay,
    profiles_recompute_stale,
    profiles_rfm_refresh,
)

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "admin"  # noqa: S105 - the printed demo login of a local install
# The store `make run` plays on its first start (a few thousand events).
DEMO_STORE_SHOPPERS = 120
DEMO_STORE_DAYS = 45


class Command(BaseCommand):
    help = "Run the CDP: web server, Celery worker and beat, on embedded services by default."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=settings.WEB_WORKERS)

    def handle(self, *args: Any, host: str, port: int, web_workers: int, **options: Any) -> None:
        url = f"http://{host}:{port}/"
        lock = StackLock(settings.VAR_DIR)
        try:
            lock.acquire(url=url)
        except StackRunning as running:
            state = "is running" if stack_answers(running.url) else "is starting or stopping"
            raise CommandError(
                f"CDP {state} at {running.url} (process {running.pid}) on the data in "
                f"{settings.VAR_DIR}; not starting another. Stop that one with Ctrl-C first."
            ) from None
        try:
            if stack_answers(url):
                raise CommandError(
                    f"Something already answers at {url}; not starting. Stop it, or choose "
                    "another port (--port, or PORT)."
                )
            embedded_db = embedded_database_ensure()
            self._run(host, port, web_workers, url, embedded_db=embedded_db)
        finally:
            lock.release()

    def _run(self, host: str, port: int, web_workers: int, url: str, *, embedded_db: bool) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        # Events stored by a version without profiles get theirs before serving.
        resolved = services.events_resolve_missing_profiles()
        if resolved:
            self.stdout.write(f"  Gave {resolved:,} earlier events their profiles.")
        recomputed = profiles_recompute_stale()
        if recomputed:
            self.stdout.write(f"  Computed the attributes of {recomputed:,} earlier profiles.")
        # Beat runs these hourly from its start; scores are current from the first page (and
        # on a first start, again once the demo store is processed).
        profiles_rfm_refresh()
        profiles_engagement_decay()
        username, password, write_key = self._ensure_demo()
        seed_store = env_flag("CDP_DEMO_STORE", default=True) and not demo_source_has_events()

        # Children connect to the same database and broker, which this process holds open
        # (the embedded PostgreSQL, started above, stops when this process exits).
        env = {
            **os.environ,
            "DATABASE_URL": os.environ.get("DATABASE_URL") or settings.DATABASE_URL,
            "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", ""),
            # Unsubscribe links point at the address served here, unless one is set.
            "CAMPAIGNS_SITE_URL": os.environ.get("CAMPAIGNS_SITE_URL") or f"http://{host}:{port}",
            "PYTHONUNBUFFERED": "1",
        }
        celery = os.path.join(os.path.dirname(sys.executable), "celery")
        programs = [
            Program(
                "web server",
                [
                    *web_server_command(bind=f"{host}:{port}", workers=web_workers),
                    "--access-logfile", "-",
                    "--graceful-timeout", "5",
                ],
            ),
            Program(
                "worker",
                [
                    celery, "-A", "cdp_project", "worker",
                    "--loglevel", "INFO",
                    "--concurrency", "2",
                ],
            ),
            # Beat on its own: killed, it is restarted like the rest (inside the worker, a
            # dead beat went unnoticed and no periodic task ran again).
            Program(
                "scheduler (beat)",
                [
                    celery, "-A", "cdp_project", "beat",
                    "--loglevel", "INFO",
                    "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
                ],
            ),
        ]  # fmt: skip
        supervisor = Supervisor(
            programs, env=env, cwd=settings.BASE_DIR, say=self._say, stdout=None
        )
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, supervisor.stop)
        supervisor.start()
        shop_line = (
            f"  Demo shop:   {url}shop/   (shop there, watch it here)\n"
            if settings.STOREFRONT_ENABLED
            else ""
        )
        database = "embedded PostgreSQL (var/pgdata)" if embedded_db else "DATABASE_URL"
        broker = "filesystem broker (var/broker)" if _embedded_broker() else "CELERY_BROKER_URL"
        self.stdout.write(
            self.style.SUCCESS(
                "\n"
                f"  CDP is running at {url}\n"
                f"  Log in:      {username} / {password}\n"
                f"  Write key:   {write_key}   (source “{DEMO_SOURCE}”)\n"
                f"  Ingest API:  {url}v1/batch   ·  API docs: {url}api/docs/\n"
                f"{shop_line}"
                f"  Database:    {database}   ·  Broker: {broker}\n"
                "  Press Ctrl-C to stop.\n"
            )
        )
        if seed_store:
            threading.Thread(
                target=self._seed_demo_store, args=(url, write_key), daemon=True
            ).start()
        try:
            supervisor.run()
        except GaveUp as failure:
            self.stderr.write(str(failure))
            self._stop(supervisor)
            raise CommandError("Stopped because a process kept failing.") from None
        self._stop(supervisor)

    def _seed_demo_store(self, url: str, write_key: str) -> None:
        """Play a small demo store through the API once the server answers, so a newcomer's
        first screens are full. Only on the first start: when the demo source is empty."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}health/", timeout=2).status_code in (200, 503):
                    break
            except requests.RequestException:
                time.sleep(0.5)
        # Before the history: its last day's orders, carts and visits then enroll, and the
        # Outbox fills as their waits end (older events never trigger a campaign).
        activated = demo_campaigns_activate()
        connection.close()
        shoppers, days = DEMO_STORE_SHOPPERS, DEMO_STORE_DAYS
        self.stdout.write(f"  Seeding the demo store: {shoppers} shoppers over {days} days…")
        simulation = StoreSimulation(shoppers=shoppers, days=days, base_url=url.rstrip("/"))
        result = StoreSender(base_url=url, write_key=write_key).send(simulation.history())
        if result.errors:
            self.stderr.write(f"  The demo store could not be seeded: {result.errors[0]}")
            return
        self.stdout.write(
            f"  Demo store seeded: {result.accepted:,} events of {simulation.stats.shoppers} "
            f"shoppers and {simulation.stats.orders} orders (the worker processes them now). "
            "More traffic: .venv/bin/python manage.py simulate_store --live"
        )
        # Once the worker has folded the orders in, score RFM now rather than at beat's
        # first hourly run, so the first look at the profiles shows it.
        try:
            deadline = time.monotonic() + 180
            while events_backlog() and time.monotonic() < deadline:
                time.sleep(1)
            scored = profiles_rfm_refresh()
            self.stdout.write(f"  Demo store processed: {scored} customers scored for RFM.")
            # After processing: their conditions name paths the catalog has discovered.
            segments = demo_segments_create()
            if segments:
                names = ", ".join(f"“{segment.name}”" for segment in segments)
                self.stdout.write(f"  Example segments saved: {names}.")
            if activated:
                names = ", ".join(f"“{campaign.name}”" for campaign in activated)
                self.stdout.write(
                    f"  Campaigns active: {names}; their emails land in the Outbox and go "
                    "nowhere else."
                )
            elif not email_stays_local():
                self.stdout.write("  Campaigns left as drafts: EMAIL_URL sends real email.")
        finally:
            connection.close()

    def _say(self, line: str) -> None:
        self.stderr.write(f"  {line}")

    def _stop(self, supervisor: Supervisor) -> None:
        self.stdout.write("Stopping the web server, the worker and the scheduler…")
        # Each stops its own children (a graceful shutdown for gunicorn, a warm one for
        # Celery); what is still there after the timeout is killed, group by group. The
        # embedded PostgreSQL stops when this process exits.
        supervisor.shutdown()
        self.stdout.write("Stopped.")

    def _ensure_demo(self) -> tuple[str, str, str]:
        User = get_user_model()
        if not User.objects.filter(username=DEMO_USERNAME).exists():
            User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", DEMO_PASSWORD)
            password = DEMO_PASSWORD
        else:
            password = DEMO_PASSWORD + " (unless you changed it)"
        source = Source.objects.filter(name=DEMO_SOURCE).first()
        if source is None:
            source = services.source_create(
                actor=Actor.system("demo"), name=DEMO_SOURCE, kind=Source.Kind.SERVER
            )
        key = selectors.source_active_write_key(source=source)
        if key is None:
            key = services.write_key_create(actor=Actor.system("demo"), source=source, label="Demo")
        if settings.STOREFRONT_ENABLED:
            storefront_write_key()  # its source is listed before the shop's first visit
        return DEMO_USERNAME, password, key.key


def _embedded_broker() -> bool:
    return not os.environ.get("CELERY_BROKER_URL")


def env_flag(name: str, *, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def demo_source_has_events() -> bool:
    return Event.objects.filter(source__name=DEMO_SOURCE).exists()
