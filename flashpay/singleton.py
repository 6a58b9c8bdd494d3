"""One-instance guard for long-running processes: a PostgreSQL advisory lock (a file lock on SQLite)."""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection

from flashpay.sql import advisory_lock_held, advisory_try_lock, advisory_unlock

logger = logging.getLogger(__name__)


def _lock_key(name: str) -> int:
    # A stable signed 64-bit key per name (pg advisory locks take a bigint).
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class SingletonLock:
    """Held for the life of a process; ``acquire()`` is non-blocking and may be retried.

    On PostgreSQL the lock lives on a dedicated connection (not Django's, which threads and
    ``close_old_connections`` may recycle): if that connection dies, the lock is gone, and
    ``still_held()`` says so, so the holder can stop before another instance takes over.
    """

    def __init__(self, name: str):
        self.name = name
        self.key = _lock_key(name)
        self._conn: psycopg.Connection | None = None
        self._file = None

    def acquire(self) -> bool:
        # SQLite keeps the file lock: `make run` starts the watcher, which holds one of these.
        if connection.vendor == "postgresql":
            return self._acquire_pg()
        return self._acquire_file()

    def _acquire_pg(self) -> bool:
        db = settings.DATABASES["default"]
        params = {
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "dbname": db["NAME"],
            "autocommit": True,
            "application_name": f"flashpay {self.name}",
        }
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(**{k: v for k, v in params.items() if v is not None})
        return advisory_try_lock(self._conn, self.key)

    def _acquire_file(self) -> bool:
        path = Path(settings.BASE_DIR) / "var" / f"{self.name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._file is None:
            self._file = open(path, "a+")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()
        return True

    def still_held(self) -> bool:
        if self._file is not None:
            return True
        if self._conn is None:
            return False
        try:
            return advisory_lock_held(self._conn, self.key)
        except psycopg.Error:
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                advisory_unlock(self._conn, self.key)
            except psycopg.Error:
                pass
            self._conn.close()
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
