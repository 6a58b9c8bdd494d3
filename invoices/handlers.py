"""Outbox handlers: the watcher's on-chain and Lightning events drive invoice payments and statuses.

Delivered at least once; every service called here is idempotent by the payment's natural key.
"""
from __future__ import annotations

from flashpay.events.models import Event
from invoices.onchain.selectors import onchain_payments_for_address
from invoices.services.payments import (
    invoice_payment_lightning_record,
    invoice_payment_onchain_record,
    invoice_payments_confirm,
)


def on_onchain_payment(event: Event) -> None:
    """onchain.payment.received / confirmed / unconfirmed / removed.

    The output's CURRENT state is recorded, not the one in the event: a retried older event
    (delivered after a newer one) must not move a confirmed payment back to unconfirmed.
    """
    data = event.payload
    current = next(
        (
            p
            for p in onchain_payments_for_address(address=data["address"])
            if (p.txid, p.vout) == (data["txid"], data["vout"])
        ),
        None,
    )
    invoice_payment_onchain_record(
        address=data["address"],
        txid=data["txid"],
        vout=data["vout"],
        amount_msat=current.amount_msat if current else data["amount_msat"],
        chain_status=current.status if current else data["status"],
        block_height=current.block_height if current else data.get("block_height"),
    )


def on_chain_tip(event: Event) -> None:
    """onchain.tip.advanced: payments may now have enough confirmations."""
    invoice_payments_confirm(tip_height=event.payload["block_height"])


def on_lightning_settled(event: Event) -> None:
    """lightning.invoice.settled (matched by payment hash only)."""
    data = event.payload
    invoice_payment_lightning_record(
        payment_hash=data["payment_hash"],
        amount_received_msat=data.get("amount_received_msat") or data.get("amount_msat") or 0,
    )


def invoices_register() -> None:
    """Called from InvoicesConfig.ready(): subscribe to the watcher's events, declare the expiry schedule."""
    from flashpay.events.registry import register_handler
    from flashpay.schedules import register_schedule
    from invoices.onchain.services import (
        EVENT_CONFIRMED,
        EVENT_RECEIVED,
        EVENT_REMOVED,
        EVENT_TIP,
        EVENT_UNCONFIRMED,
    )
    from lightning.services import INVOICE_SETTLED_EVENT

    for event_type in (EVENT_RECEIVED, EVENT_CONFIRMED, EVENT_UNCONFIRMED, EVENT_REMOVED):
        register_handler(event_type, "invoices.handlers.on_onchain_payment")
    register_handler(EVENT_TIP, "invoices.handlers.on_chain_tip")
    register_handler(INVOICE_SETTLED_EVENT, "invoices.handlers.on_lightning_settled")
    # django-q2's scheduler wakes about every 30 s; one minute is the finest interval it honours.
    register_schedule("invoices.expire", "invoices.tasks.invoices_expire_task", minutes=1)
    register_schedule("invoices.own-node-sync", "invoices.tasks.invoices_own_node_sync_task", minutes=1)
    register_schedule("invoices.lightning-remainders", "invoices.tasks.invoice_lightning_remainders_sweep_task", minutes=1)
