"""Reads of the on-chain side: payments, confirmation depth, the chain cursor, hot-wallet sends.

With ``invoices.onchain.services`` this is what other apps use of the on-chain wallets.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from flashpay.money import MSAT_PER_SAT, Msat
from invoices.models import ChainCursor, OnchainPayment, WatchedAddress
from invoices.onchain.rpc import BitcoindClient


def onchain_cursor_get(*, wallet: str) -> ChainCursor | None:
    return ChainCursor.objects.filter(wallet=wallet).first()


def onchain_payment_confirmations(*, payment: OnchainPayment, tip_height: int) -> int:
    """Confirmations of a payment at chain height ``tip_height`` (0 while unconfirmed or removed)."""
    if payment.status != OnchainPayment.Status.CONFIRMED or payment.block_height is None:
        return 0
    return max(tip_height - payment.block_height + 1, 0)


def onchain_payments_for_address(*, address: str) -> QuerySet[OnchainPayment]:
    return OnchainPayment.objects.filter(address__address=address).order_by("pk")


def onchain_watched_address_get(*, address: str) -> WatchedAddress | None:
    return WatchedAddress.objects.filter(address=address).first()


# ---------------------------------------------------------------------------- hot wallets
# Reads of a hot wallet through the node: each raises OnchainNodeError (invoices.onchain.services)
# when bitcoind gives no usable answer.


def onchain_hot_wallet_tip(*, client: BitcoindClient) -> str:
    """The hash of the best block the hot wallet's node knows (where to look for sends from)."""
    return client.get_best_block_hash()


def onchain_hot_wallet_send_find(
    *, client: BitcoindClient, since_block: str | None, address: str, amount_sat: int, excluding: Collection[str] = ()
) -> str | None:
    """The txid of a send of exactly ``amount_sat`` to ``address`` made since ``since_block``
    (None: ever) and not in ``excluding`` (txids already accounted for), if the wallet has one:
    how a send whose answer was lost is found."""
    amount_msat = -amount_sat * MSAT_PER_SAT  # a send is negative in the wallet's listing
    for entry in client.list_since_block(since_block or None).transactions:
        if (
            entry.category == "send"
            and entry.address == address
            and entry.amount_msat == amount_msat
            and entry.txid not in excluding
        ):
            return entry.txid
    return None


@dataclass(frozen=True)
class HotWalletTransaction:
    txid: str
    confirmations: int | None  # negative: conflicted (double-spent away); None: not reported
    fee_msat: int  # the network fee the wallet paid (0 when not reported)


def onchain_hot_wallet_transaction_get(*, client: BitcoindClient, txid: str) -> HotWalletTransaction:
    """A transaction of the hot wallet: its depth and the network fee it paid (``gettransaction``)."""
    tx = client.get_transaction(txid)
    confirmations = tx.get("confirmations")
    if not isinstance(confirmations, int) or isinstance(confirmations, bool):
        confirmations = None
    fee = tx.get("fee")  # negative BTC, for a send of the wallet
    fee_msat = -Msat.from_btc(str(fee)).value if isinstance(fee, Decimal | int) and not isinstance(fee, bool) else 0
    return HotWalletTransaction(txid=txid, confirmations=confirmations, fee_msat=fee_msat)


# ---------------------------------------------------------------------------- sync status


def onchain_sync_status() -> dict:
    """BTCPay's sync status of the chain (``ApplicationServerInfoSyncStatusData``, BTC-CHAIN):
    the node's headers, blocks and verification progress, and how far the watcher has followed.

    ``available``: the node is out of its initial block download, has every block it has a header
    for, and the watcher's cursor is at its tip (payments up to now are seen). A node that does
    not answer is not available; nothing raises.
    """
    from django.conf import settings

    from invoices.onchain.clients import bitcoind_client_open
    from invoices.onchain.rpc import NodeError

    cursor = onchain_cursor_get(wallet=settings.BITCOIND_WALLET)
    sync_height = cursor.block_height if cursor is not None else None
    client = bitcoind_client_open(timeout=5.0)
    try:
        info = client.get_blockchain_info()
    except NodeError:
        info = None
    finally:
        client.close()
    if info is None:
        return {"paymentMethodId": "BTC-CHAIN", "nodeInformation": None, "chainHeight": sync_height or 0,
                "syncHeight": sync_height, "available": False}
    headers, blocks = int(info.get("headers", 0)), int(info.get("blocks", 0))
    synced_node = not info.get("initialblockdownload", False) and headers == blocks
    return {
        "paymentMethodId": "BTC-CHAIN",
        "nodeInformation": {
            "headers": headers,
            "blocks": blocks,
            "verificationProgress": float(info.get("verificationprogress", 0)),
        },
        "chainHeight": blocks,
        "syncHeight": sync_height,
        "available": synced_node and sync_height is not None and sync_height >= blocks,
    }
