"""The on-chain watcher loop: poll the node with onchain_sync_once until told to stop (for `manage.py watch`).

Polling listsinceblock is the baseline; it is cheap (the node answers from its wallet index, and
the answer holds only what changed) so a short interval gives sub-second detection. With a
``ZmqWaker`` (bitcoind's hashblock/rawtx notifications) the loop wakes up as soon as the node
sees something and ``poll_seconds`` becomes the fallback interval.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import DatabaseError, close_old_connections, connections

from flashpay.errors import Conflict
from invoices.onchain.rpc import BitcoindClient, NodeError, NodeUnavailable
from invoices.onchain.services import SyncResult, onchain_sync_once, onchain_wallet_ensure

if TYPE_CHECKING:
    from invoices.onchain.notify import ZmqWaker

logger = logging.getLogger(__name__)


def onchain_watch_forever(
    *,
    client: BitcoindClient,
    poll_seconds: float = 0.5,
    stop: threading.Event | None = None,
    on_result: Callable[[SyncResult], None] | None = None,
    max_backoff_seconds: float = 30.0,
    waker: ZmqWaker | None = None,
) -> None:
    """Follow the node until ``stop`` is set. Node outages back off and retry; nothing is skipped.

    Safe to kill at any moment: each step commits payments, events and the cursor together, so a
    restarted watcher resumes from the last committed block.
    """
    stop = stop or threading.Event()
    try:
        _loop(client, poll_seconds, stop, on_result, max_backoff_seconds, waker)
    finally:
        connections.close_all()  # this thread's connections; a watcher thread must not leak them


def _loop(client, poll_seconds, stop, on_result, max_backoff_seconds, waker) -> None:
    backoff = poll_seconds
    wallet_ready = False
    while not stop.is_set():
        try:
            if not wallet_ready:
                onchain_wallet_ensure(client=client)
                wallet_ready = True
            result = onchain_sync_once(client=client)
        except Conflict:
            continue  # another step moved the cursor; run again from the new one
        except NodeUnavailable as exc:
            logger.warning("bitcoind unavailable, retrying in %.1fs: %s", backoff, exc.message)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_seconds)
            continue
        except NodeError as exc:
            logger.error("bitcoind error, retrying in %.1fs: %s", backoff, exc.message)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_seconds)
            continue
        except DatabaseError:
            # the step rolled back as a whole; the database may be restarting
            logger.exception("database error in the on-chain watcher, retrying in %.1fs", backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_seconds)
            continue
        finally:
            close_old_connections()
        backoff = poll_seconds
        if on_result is not None:
            on_result(result)
        if result.received or result.confirmed or result.unconfirmed or result.removed:
            logger.info(
                "on-chain at %s: %d received, %d confirmed, %d unconfirmed, %d removed",
                result.tip_height, len(result.received), len(result.confirmed),
                len(result.unconfirmed), len(result.removed),
            )
        if waker is not None:
            waker.wait(poll_seconds)
        else:
            stop.wait(poll_seconds)
