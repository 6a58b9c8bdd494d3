"""Rate writes: fetch the enabled HTTP sources and store their quotes in the shared rates cache."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from .cache import quotes_store
from .errors import RateSourceError
from .sources import HTTP_SOURCES, enabled_source_ids
from .types import Quote

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceRefresh:
    """What one source's refresh did: the pairs it stored, or why it stored nothing."""

    source: str
    pairs: tuple[str, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def rates_refresh(*, sources: Sequence[str] | None = None) -> list[SourceRefresh]:
    """Fetch each HTTP source (default: the enabled ones in ``RATES_SOURCES``) and cache its quotes.

    A source that fails (unreachable, timeout, HTTP error, an answer not in its documented shape)
    stores nothing, so its previous good quotes stay in place until they age out. One source
    failing never stops the others. Sources are fetched one after the other: with a few sources
    and a short timeout a refresh stays well inside the 30 s period.
    """
    ids = enabled_source_ids() if sources is None else list(sources)
    unknown = [s for s in ids if s not in HTTP_SOURCES and s != "fixed"]
    if unknown:
        raise ImproperlyConfigured(f"unknown rate source(s): {', '.join(unknown)}")
    results = []
    timeout = httpx.Timeout(settings.RATES_HTTP_TIMEOUT)
    headers = {"User-Agent": "FlashPay rates", "Accept": "application/json"}
    with httpx.Client(timeout=timeout, headers=headers, follow_redirects=False) as client:
        for source_id in ids:
            source = HTTP_SOURCES.get(source_id)
            if source is None:
                continue  # "fixed" is read from settings directly, nothing to fetch
            try:
                fetched = source.fetch(client)
            except RateSourceError as exc:
                logger.warning("rate source %s failed, keeping its previous rates: %s", source_id, exc.message)
                results.append(SourceRefresh(source=source_id, pairs=(), error=exc.message))
                continue
            # Stamped when the answer arrived: this is the time a rate's 10 minutes count from.
            fetched_at = timezone.now()
            quotes_store(
                Quote(pair=q.pair, bid=q.bid, ask=q.ask, fetched_at=fetched_at, source=source_id)
                for q in fetched
            )
            results.append(SourceRefresh(source=source_id, pairs=tuple(str(q.pair) for q in fetched)))
    return results
