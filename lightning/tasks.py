"""django-q2 tasks of the lightning app: the safety-net reconciliation of open invoices."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from flashpay.schedules import register_schedule
from lightning.clients import lightning_client_open
from lightning.errors import LightningError
from lightning.services import lightning_invoices_reconcile

logger = logging.getLogger(__name__)

RECONCILE_SCHEDULE = "lightning.reconcile"
# An invoice cannot be paid after it expires; a margin covers clocks and HTLCs in flight.
RECONCILE_EXPIRY_MARGIN = timedelta(hours=1)


def lightning_schedules_register() -> None:
    """Declare the periodic reconciliation; called from LightningConfig.ready()."""
    register_schedule(RECONCILE_SCHEDULE, "lightning.tasks.lightning_reconcile_task", minutes=5)


def lightning_reconcile_task() -> dict:
    """Ask the node about every open, unexpired invoice and record those that settled.

    The watcher's stream records settlements within milliseconds; this catches what a stream can
    miss (a subscription being set up, a node restored from backup). Idempotent.
    """
    backend = lightning_client_open()
    try:
        node_pubkey = backend.node_info().pubkey
        recorded = lightning_invoices_reconcile(
            backend=backend,
            node_pubkey=node_pubkey,
            expires_after=timezone.now() - RECONCILE_EXPIRY_MARGIN,
        )
    except LightningError as exc:
        logger.warning("lightning: reconciliation skipped: %s", exc.message)
        return {"recorded": 0, "error": exc.code}
    finally:
        backend.close()
    return {"recorded": len(recorded), "error": None}
