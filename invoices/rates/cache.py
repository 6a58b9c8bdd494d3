"""Where fetched quotes live between the worker that fetches them and the web that reads them.

The store is the Django cache named by ``RATES_CACHE_ALIAS``. It must be shared by every process:
the fetcher runs in the worker (``qcluster``) and the selectors run in the web process, so a
per-process LocMemCache would leave the web with no rates. The development default is a
FileBasedCache under ``var/`` (shared by the processes of one machine); production on several
machines sets ``RATES_CACHE_URL`` to Redis (``redis://...``) or to the database cache
(``dbcache://flashpay_rates_cache`` after ``manage.py createcachetable``).

One key per (source, pair), so each refresh replaces only what it fetched and never has to
read-modify-write a shared blob. Entries are kept for a day (``RATES_CACHE_KEEP_SECONDS``) so the
last known rate stays visible for diagnostics; whether a quote is fresh enough to use is decided
by the selectors from its ``fetched_at``, not by cache expiry. Values are plain strings so that any
cache backend stores them exactly.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import caches

from .types import CurrencyPair, Quote

logger = logging.getLogger(__name__)

_KEY = "rates:v1:{source}:{pair}"


def _cache():
    return caches[settings.RATES_CACHE_ALIAS]


def _key(source: str, pair: CurrencyPair) -> str:
    return _KEY.format(source=source, pair=pair)


def quotes_store(quotes: Iterable[Quote]) -> None:
    values = {
        _key(q.source, q.pair): {"bid": str(q.bid), "ask": str(q.ask), "fetched_at": q.fetched_at.isoformat()}
        for q in quotes
    }
    if values:
        _cache().set_many(values, timeout=settings.RATES_CACHE_KEEP_SECONDS)


def quotes_load(wanted: Iterable[tuple[str, CurrencyPair]]) -> dict[tuple[str, CurrencyPair], Quote]:
    """The cached quotes among ``wanted`` (source id, pair), fresh or not; unreadable ones are skipped."""
    keys = {_key(source, pair): (source, pair) for source, pair in wanted}
    found = _cache().get_many(list(keys))
    quotes = {}
    for key, value in found.items():
        source, pair = keys[key]
        try:
            quote = Quote(
                pair=pair,
                bid=Decimal(value["bid"]),
                ask=Decimal(value["ask"]),
                fetched_at=datetime.fromisoformat(value["fetched_at"]),
                source=source,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation):
            logger.warning("ignoring unreadable cached rate %s", key)
            continue
        quotes[(source, pair)] = quote
    return quotes
