"""Which handlers (by dotted path) receive which event types; filled in AppConfig.ready().

A handler is ``def handler(event: Event) -> None``. It is delivered AT LEAST ONCE: a worker may
crash after the handler's side effect and before the delivery is marked done, so a handler must
be idempotent (use a natural key / unique constraint for whatever it writes). Its database writes
run in the same transaction that marks the delivery done, so they are kept only if it returns;
outside effects (HTTP, e-mail, node calls) belong in ``transaction.on_commit`` or their own task.
"""
from __future__ import annotations

import re
from collections import defaultdict

ALL_EVENTS = "*"
_DOTTED_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")

_handlers: dict[str, list[str]] = defaultdict(list)


def register_handler(event_type: str, handler_path: str) -> None:
    """Deliver events of ``event_type`` (or every type, with "*") to the function at ``handler_path``.

    The path is imported only when a worker delivers, so registering never causes import cycles.
    Registering the same pair twice is a no-op.
    """
    if not event_type or len(event_type) > 100:
        raise ValueError(f"invalid event type {event_type!r}")
    if not _DOTTED_PATH.match(handler_path) or len(handler_path) > 255:
        raise ValueError(f"handler must be a dotted path like 'app.handlers.func', got {handler_path!r}")
    if handler_path not in _handlers[event_type]:
        _handlers[event_type].append(handler_path)


def unregister_handler(event_type: str, handler_path: str) -> None:
    """Stop delivering future events of ``event_type`` to ``handler_path`` (tests, feature flags)."""
    if handler_path in _handlers.get(event_type, []):
        _handlers[event_type].remove(handler_path)


def handlers_for(event_type: str) -> list[str]:
    """The handler paths for an event type: the specific ones, then the "*" ones, without repeats."""
    paths = list(_handlers.get(event_type, []))
    paths += [p for p in _handlers.get(ALL_EVENTS, []) if p not in paths]
    return paths
