"""kombu's filesystem transport, without the partial message.

Written to stand on its own (it imports only kombu and the standard library), so that it can
be offered to kombu as a change to ``kombu/transport/filesystem.py``.

The race
========
kombu's filesystem transport (kombu 5.x) publishes a message by ``open(name, 'wb')``,
then ``flock``, then ``write``; its consumer lists the folder, moves a file away *without*
taking the lock and reads it. So a consumer that polls between the producer's create and
its write, or a producer killed in the middle of its write (or a disk that filled up),
leaves the consumer an empty or truncated file. ``json.loads`` then raises
``JSONDecodeError`` out of ``Channel._get``, before any decode hook of Celery's, and a
Celery worker stops with "Unrecoverable error" (kombu issue #1551). The file may already be
gone when that happens, or, for a truncated file that was moved to ``processed_folder`` or
still sits in the queue folder, it stops the next worker too.

What this transport does
========================
* **Publish by rename.** A message is written in full under a temporary name in
  ``incoming_folder`` and then renamed into ``data_folder_out``. A rename within
  one file system is atomic: a consumer sees the whole message or no file at all. A producer
  killed mid-write leaves only a temporary file that no consumer reads (removed when a
  channel opens, once older than ``incoming_max_age`` seconds).
* **Set aside, never raise.** A consumer claims a file by renaming it (only one consumer
  wins), reads it, and when it is not a message (empty, truncated, not JSON, not a kombu
  payload) moves it to ``unreadable_folder`` with a logged warning, counts it, and goes on to
  the next file. A message written by an older producer with the stock transport can still
  be caught mid-write this way; it is set aside rather than crashing the consumer.
* **Exchange tables created atomically.** The stock transport creates an exchange's table
  file with ``open('wb')`` before locking it, so a publisher reading it meanwhile reads an
  empty table. Here it is written under a temporary name and linked into place.

The message format, the file names and the folders are those of the stock transport: a
producer and a consumer of either kind can share a folder.

Transport options (besides the stock ones)
==========================================
* ``unreadable_folder``: where unreadable files are set aside (default
  ``<data_folder_in>/.unreadable``).
* ``incoming_folder``: where messages are written before the rename (default
  ``<data_folder_out>/.incoming``); it must be on the file system of ``data_folder_out``.
* ``claimed_folder``: where a consumer renames a message to claim it (default
  ``<data_folder_in>/.claimed``); on the file system of ``data_folder_in``.
* ``incoming_max_age``: seconds after which a temporary file is considered left by a dead
  producer (default 3600).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

logger = logging.getLogger(__name__)

#: The URL scheme this transport is registered under: ``filesystem-atomic://``.
SCHEME = "filesystem-atomic"

INCOMING = ".incoming"
CLAIMED = ".claimed"
UNREADABLE = ".unreadable"


def _unreadable_folder(options: dict[str, Any]) -> Path:
    folder = options.get("unreadable_folder")
    if folder:
        return Path(folder)
    return Path(options.get("data_folder_in", "data_in")) / UNREADABLE


def unreadable_count(options: dict[str, Any]) -> int:
    """How many messages consumers set aside as unreadable (they stay until removed)."""
    try:
        return sum(1 for entry in os.scandir(_unreadable_folder(options)) if entry.is_file())
    except FileNotFoundError:
        return 0


def _is_message(payload: Any) -> bool:
    """A kombu virtual-transport payload: what `virtual.Message` reads without a KeyError."""
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("properties"), dict)
        and "delivery_tag" in payload["properties"]
    )


class Channel(filesystem.Channel):
    """Filesystem channel that publishes by rename and sets unreadable messages aside."""

    #: Unreadable messages this channel set aside (the folder holds every consumer's).
    unreadable_set_aside = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remove_stale_incoming()

    # --- publishing -------------------------------------------------------------------

    # kombu's filesystem channel names the argument `payload`, its virtual base `message`.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        """Put `payload` onto `queue`: written whole, then renamed into the queue folder."""
        filename = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        target = os.path.join(self.data_folder_out, filename)
        try:
            os.makedirs(self.incoming_folder, exist_ok=True)
            temporary = os.path.join(self.incoming_folder, filename)
            with open(temporary, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.rename(temporary, target)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {target!r} to directory") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        if not file.exists():
            self.control_folder.mkdir(parents=True, exist_ok=True)
            row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            temporary = file.with_name(f".{file.name}.{uuid.uuid4()}")
            try:
                temporary.write_bytes(str_to_bytes(dumps([row])))
                try:
                    os.link(temporary, file)  # fails if another process created it first
                    return
                except FileExistsError:
                    pass
            except OSError as exc:
                raise ChannelError(f"Cannot open {file}") from exc
            finally:
                temporary.unlink(missing_ok=True)
        # The file exists: the stock update reads and rewrites it under an exclusive lock.
        super()._queue_bind(exchange, routing_key, pattern, queue)

    # --- consuming --------------------------------------------------------------------

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        """Get the next readable message from `queue`; set unreadable ones aside."""
        queue_find = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != queue_find:
                continue
            claimed = self._claim(filename)
            if claimed is None:
                continue  # another consumer took it
            try:
                with open(claimed, "rb") as f:
                    raw = f.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            try:
                payload = loads(bytes_to_str(raw))
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
                self._set_aside(claimed, f"{type(exc).__name__}: {exc}", len(raw))
                continue
            if not _is_message(payload):
                self._set_aside(claimed, "not a kombu message", len(raw))
                continue
            if not self.store_processed:
                os.remove(claimed)
            return payload
        raise Empty()

    def _claim(self, filename: str) -> str | None:
        """Rename the file out of the queue folder; None when another consumer won."""
        folder = self.processed_folder if self.store_processed else self.claimed_folder
        os.makedirs(folder, exist_ok=True)
        source = os.path.join(self.data_folder_in, filename)
        target = os.path.join(folder, filename)
        try:
            os.rename(source, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                return None
            try:  # processed_folder on another file system: as the stock transport does
                shutil.move(source, target)
            except OSError:
                return None
        return target

    def _set_aside(self, path: str, why: str, size: int) -> None:
        folder = _unreadable_folder(self.transport_options)
        os.makedirs(folder, exist_ok=True)
        target = folder / os.path.basename(path)
        try:
            shutil.move(path, target)
        except OSError:
            target = Path(path)  # left where it was claimed; never in the queue again
        Channel.unreadable_set_aside += 1
        logger.warning(
            "broker_message_set_aside file=%s bytes=%d reason=%s: a message file that "
            "cannot be read was moved out of the queue; the task it carried does not run",
            target,
            size,
            why,
        )

    def _remove_stale_incoming(self) -> None:
        cutoff = time.time() - float(self.transport_options.get("incoming_max_age", 3600))
        try:
            entries = list(os.scandir(self.incoming_folder))
        except OSError:
            return
        for entry in entries:
            try:
                if entry.stat().st_mtime < cutoff:
                    os.remove(entry.path)
            except OSError:
                pass

    @cached_property
    def incoming_folder(self) -> str:
        return str(
            self.transport_options.get("incoming_folder")
            or os.path.join(self.data_folder_out, INCOMING)
        )

    @cached_property
    def claimed_folder(self) -> str:
        return str(
            self.transport_options.get("claimed_folder")
            or os.path.join(self.data_folder_in, CLAIMED)
        )


class Transport(filesystem.Transport):
    """Filesystem transport that never hands a consumer a partial message."""

    Channel = Channel
    # Its own state: sharing the stock transport's class attribute would mix their tables.
    global_state = filesystem.virtual.BrokerState()
    driver_type = SCHEME
    driver_name = SCHEME


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
