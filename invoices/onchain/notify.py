"""Wake-ups from bitcoind's ZMQ notifications (hashblock, rawtx; doc/zmq.md) so the watcher need not poll fast.

The notifications only say "something changed": the watcher still reads what changed with
listsinceblock from its cursor, so a lost or duplicated notification costs latency, never a
payment. Without ZMQ configured the watcher polls (``stop.wait(poll_seconds)``).
"""
from __future__ import annotations

import logging

import zmq

logger = logging.getLogger(__name__)

TOPICS = (b"hashblock", b"rawtx")


class ZmqWaker:
    """A SUB socket on bitcoind's zmqpubhashblock/zmqpubrawtx endpoint(s)."""

    def __init__(self, *urls: str):
        if not urls:
            raise ValueError("Give at least one ZMQ endpoint, e.g. tcp://127.0.0.1:28332")
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        # bitcoind drops messages when a subscriber is slow (its HWM); we only need "changed".
        self._socket.setsockopt(zmq.RCVHWM, 1000)
        for topic in TOPICS:
            self._socket.setsockopt(zmq.SUBSCRIBE, topic)
        for url in urls:
            self._socket.connect(url)

    @classmethod
    def from_settings(cls) -> ZmqWaker | None:
        """The waker for BITCOIND_ZMQ_URLS (comma separated), or None to poll only."""
        from django.conf import settings

        urls = [u for u in settings.BITCOIND_ZMQ_URLS if u]
        return cls(*urls) if urls else None

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a notification; drain the queue; True if any came."""
        got = False
        try:
            if self._socket.poll(int(timeout * 1000)):
                while True:
                    parts = self._socket.recv_multipart(zmq.NOBLOCK)
                    if len(parts) == 3 and parts[0] in TOPICS:
                        got = True
        except zmq.Again:
            pass
        except zmq.ZMQError as exc:
            logger.warning("ZMQ receive failed, falling back to polling this round: %s", exc)
        return got

    def close(self) -> None:
        self._socket.close(linger=0)
        self._context.term()
