"""The watcher: follows the Bitcoin node and the Lightning node and records payments (one instance).

Each side runs in its own thread and commits payments, their outbox events and its cursor
together, so a killed watcher resumes exactly where it stopped. A second instance waits on the
advisory lock as a standby and takes over when the first one goes away.
"""
from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections

from flashpay.errors import ApplicationError
from flashpay.singleton import SingletonLock

logger = logging.getLogger("flashpay.watcher")

LOCK_NAME = "watcher"


def _lightning_forever(*, stop: threading.Event, max_backoff: float = 30.0) -> None:
    """Follow the node's settled invoices; lightning_follow_settled rides out stream drops, and
    this loop also survives what it does not catch (bad credentials, a database restart)."""
    from lightning.services import lightning_client_open, lightning_follow_settled

    backoff = 0.5
    try:
        while not stop.is_set():
            backend = None
            try:
                backend = lightning_client_open()
                lightning_follow_settled(backend=backend, stop_event=stop)
            except ApplicationError as exc:
                logger.warning("lightning node: %s; retrying in %.1fs", exc.message, backoff)
            except Exception:
                logger.exception("lightning watcher failed; retrying in %.1fs", backoff)
            finally:
                if backend is not None:
                    backend.close()
                close_old_connections()
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff)
    finally:
        connections.close_all()


def _onchain_forever(*, stop: threading.Event, poll_seconds: float) -> None:
    from invoices.onchain.clients import bitcoind_client_open
    from invoices.onchain.notify import ZmqWaker
    from invoices.onchain.watcher import onchain_watch_forever

    client = bitcoind_client_open()
    waker = ZmqWaker.from_settings()
    try:
        onchain_watch_forever(client=client, poll_seconds=poll_seconds, stop=stop, waker=waker)
    finally:
        client.close()
        if waker is not None:
            waker.close()


class Command(BaseCommand):
    help = "Follow the Bitcoin and Lightning nodes and record payments (one instance at a time)."

    def add_arguments(self, parser):
        parser.add_argument("--poll", type=float, default=0.5,
                            help="seconds between listsinceblock polls (default 0.5)")
        parser.add_argument("--no-onchain", action="store_true", help="do not follow bitcoind")
        parser.add_argument("--no-lightning", action="store_true", help="do not follow Lightning")

    def handle(self, *args, poll: float, no_onchain: bool, no_lightning: bool, **options):
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

        lock = SingletonLock(LOCK_NAME)
        waiting_logged = False
        while not stop.is_set() and not lock.acquire():
            if not waiting_logged:
                logger.info("another watcher holds the lock; standing by")
                waiting_logged = True
            stop.wait(2.0)
        if stop.is_set():
            lock.release()
            return
        logger.info("watcher: lock acquired, following the nodes")

        threads = []
        if not no_onchain:
            threads.append(threading.Thread(
                target=_onchain_forever, kwargs={"stop": stop, "poll_seconds": poll},
                name="watch-onchain", daemon=True,
            ))
        if not no_lightning:
            threads.append(threading.Thread(
                target=_lightning_forever, kwargs={"stop": stop}, name="watch-lightning", daemon=True,
            ))
        for thread in threads:
            thread.start()
        lost_lock = False
        try:
            while not stop.wait(5.0):
                if not lock.still_held():
                    # Another instance may take over now: stop before both record payments.
                    logger.error("watcher: lost the lock (database connection gone); stopping")
                    lost_lock = True
                    stop.set()
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            lock.release()
        if lost_lock:
            raise SystemExit(1)
