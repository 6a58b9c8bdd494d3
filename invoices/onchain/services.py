"""Writes of the on-chain side: store descriptors, watched addresses, the listsinceblock sync, and
sends from hot wallets.

With ``invoices.onchain.selectors`` this is what other apps use of the on-chain wallets (cards'
settlement payouts, later refunds and payouts): they never import ``rpc``, ``descriptors`` or
``watcher`` themselves.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from flashpay.errors import ApplicationError, Conflict
from flashpay.events.services import event_emit
from flashpay.money import SAT_PER_BTC
from invoices.models import ChainCursor, OnchainDescriptor, OnchainPayment, WatchedAddress
from invoices.onchain.clients import bitcoind_client_open
from invoices.onchain.descriptors import (
    NETWORK_NAMES,
    address_script,
    derive_address,
    descriptor_checksum,
    parse_store_wallet,
)
from invoices.onchain.locks import lock_cursor, lock_payments
from invoices.onchain.rpc import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    BitcoindClient,
    NodeError,
    NodeRPCError,
    WalletTx,
)
from invoices.onchain.sql import descriptor_index_reserve, watched_address_upsert

# bitcoind did not answer usably (down, timed out, a malformed answer): for a send, its outcome
# is unknown. Other apps catch it under this name.
OnchainNodeError = NodeError

logger = logging.getLogger(__name__)

# How far ahead of the last handed-out index the node's wallet derives. A payment to an address
# beyond the imported range would be invisible, so addresses are handed out only once covered;
# importing in steps of this size keeps importdescriptors calls rare.
IMPORT_LOOKAHEAD = 1000

# bitcoind's refusal to shrink an imported range names the range it keeps.
_CURRENT_RANGE = re.compile(r"new range must include current range = \[(\d+),(\d+)\]")

EVENT_RECEIVED = "onchain.payment.received"
EVENT_CONFIRMED = "onchain.payment.confirmed"
EVENT_UNCONFIRMED = "onchain.payment.unconfirmed"
EVENT_REMOVED = "onchain.payment.removed"
EVENT_TIP = "onchain.tip.advanced"


# ---------------------------------------------------------------------------- descriptors


def onchain_descriptor_register(*, text: str, network: str | None = None) -> OnchainDescriptor:
    """Parse a merchant's xpub/ypub/zpub or descriptor and store it (once: same wallet, same row)."""
    parsed = parse_store_wallet(text, network=network or settings.BITCOIN_NETWORK)
    descriptor, _created = OnchainDescriptor.objects.get_or_create(
        descriptor=parsed.descriptor,
        defaults={"network": parsed.network, "script_type": parsed.script_type},
    )
    return descriptor


def onchain_wallet_ensure(*, client: BitcoindClient) -> bool:
    """Check the node's chain and load its watch-only wallet; a fresh wallet gets everything re-imported with rescan.

    Returns True when the wallet was created (a new or reset node).
    """
    chain = client.get_blockchain_info().get("chain")
    wanted = settings.BITCOIN_NETWORK
    if NETWORK_NAMES.get(str(chain)) != NETWORK_NAMES.get(wanted):
        # Watching a mainnet node with regtest descriptors (or the reverse) would silently see nothing.
        raise NodeError(f"The node runs {chain!r} but BITCOIN_NETWORK is {wanted!r}", code="node-wrong-network")
    created = client.ensure_watch_only_wallet()
    if created:
        OnchainDescriptor.objects.update(imported_until=-1)
        requests = []
        for descriptor in OnchainDescriptor.objects.order_by("pk"):
            end = max(descriptor.next_index - 1, 0) + IMPORT_LOOKAHEAD
            # timestamp 0: rescan the chain, the addresses may have been paid already
            requests.append({"desc": descriptor.descriptor, "range": [0, end], "timestamp": 0})
        for watched in WatchedAddress.objects.filter(descriptor__isnull=True).order_by("pk"):
            requests.append({"desc": _addr_descriptor(watched.address), "timestamp": 0})
        if requests:
            client.import_descriptors(requests)
        for descriptor in OnchainDescriptor.objects.order_by("pk"):
            _mark_imported(descriptor_pk=descriptor.pk, end=max(descriptor.next_index - 1, 0) + IMPORT_LOOKAHEAD)
    return created


def _addr_descriptor(address: str) -> str:
    body = f"addr({address})"
    return f"{body}#{descriptor_checksum(body)}"


def _mark_imported(*, descriptor_pk: int, end: int) -> None:
    # A conditional UPDATE rather than read-modify-save: two workers importing concurrently must
    # only ever move the mark forward.
    OnchainDescriptor.objects.filter(pk=descriptor_pk, imported_until__lt=end).update(imported_until=end)


def _ensure_imported(*, client: BitcoindClient, descriptor: OnchainDescriptor, index: int, imported_until: int) -> int:
    """Grow the node's import range to cover ``index`` if needed; returns the range's end."""
    if index <= imported_until:
        return imported_until
    end = index + IMPORT_LOOKAHEAD
    # Never called under a row lock: a slow node must not block address allocation.
    try:
        client.import_descriptors(
            [{"desc": descriptor.descriptor, "range": [0, end], "timestamp": "now", "active": False, "internal": False}]
        )
    except NodeRPCError as exc:
        # Concurrent invoices import concurrently, and bitcoind refuses to shrink a descriptor's
        # range (wallet.cpp CanUpdateToWalletDescriptor): a wider range imported first covers us.
        current = _CURRENT_RANGE.search(exc.rpc_message) if exc.rpc_code == RPC_INVALID_PARAMETER else None
        if current is None or int(current.group(2)) < index:
            raise
        end = int(current.group(2))
    _mark_imported(descriptor_pk=descriptor.pk, end=end)
    return end


def _reserve_index(*, descriptor_pk: int) -> tuple[int, int]:
    """Hand out the descriptor's next receive index: (index, imported_until), in one statement.

    An atomic increment rather than lock + read + save: the row is locked only for the length
    of the UPDATE (and committed with it when no transaction is open), so invoices of one store
    do not queue behind each other. A crash afterwards wastes the index, never reuses it.
    """
    reserved = descriptor_index_reserve(descriptor_pk=descriptor_pk)
    if reserved is None:
        raise OnchainDescriptor.DoesNotExist(f"No on-chain descriptor {descriptor_pk}")
    return reserved


def _insert_derived(*, descriptor: OnchainDescriptor, index: int, address: str) -> WatchedAddress:
    """Insert the derived address, or adopt the same address watched before as a lone address.

    One statement: ON CONFLICT on the unique address takes over a lone row (no descriptor) and
    leaves an address of another wallet alone, which then returns nothing.
    """
    watched = WatchedAddress(address=address, descriptor=descriptor, derivation_index=index, created_at=timezone.now())
    # Field checks only; the unique and check constraints hold in the database.
    watched.full_clean(exclude=["descriptor"], validate_unique=False, validate_constraints=False)
    row = watched_address_upsert(address=address, descriptor_pk=descriptor.pk, index=index, created_at=watched.created_at)
    if row is None:
        raise Conflict(f"Address {address} is already watched for another wallet")
    watched.pk, watched.created_at = row
    return watched


def onchain_watch_address(
    *,
    client: BitcoindClient,
    descriptor: OnchainDescriptor | None = None,
    address: str | None = None,
) -> WatchedAddress:
    """Register an address to watch and make sure the node's wallet covers it before returning it.

    With ``descriptor``: the next fresh receive address of that wallet (the index is reserved by
    one atomic UPDATE, then the node's import range grows ahead of it). With ``address``: that
    one address (an ``addr()`` import), idempotently.

    Call it outside any transaction: the reserved index is committed before the node is called,
    so no row stays locked while the node works (and a failed call wastes one index, never
    reuses one).
    """
    if (descriptor is None) == (address is None):
        raise ValueError("Give exactly one of descriptor or address")
    if address is not None:
        return _watch_plain_address(client=client, address=address)

    index, imported_until = _reserve_index(descriptor_pk=descriptor.pk)
    # The descriptor text and network never change after registration: the caller's copy will do.
    derived = derive_address(descriptor.descriptor, index, network=descriptor.network)
    watched = _insert_derived(descriptor=descriptor, index=index, address=derived)
    imported_until = _ensure_imported(client=client, descriptor=descriptor, index=index, imported_until=imported_until)
    # What the caller's copy would read now (no refresh query: the values are in hand).
    descriptor.next_index, descriptor.imported_until = index + 1, imported_until
    return watched


def _watch_plain_address(*, client: BitcoindClient, address: str) -> WatchedAddress:
    address = address.strip()
    address_script(address, network=settings.BITCOIN_NETWORK)  # refuses another network's address
    existing = WatchedAddress.objects.filter(address=address).first()
    if existing is not None:
        return existing
    client.import_descriptors([{"desc": _addr_descriptor(address), "timestamp": "now"}])
    watched, _created = WatchedAddress.objects.get_or_create(address=address)
    return watched


# ---------------------------------------------------------------------------- sync


def onchain_cursor_reset(*, wallet: str) -> None:
    """Forget the last processed block: the next sync lists the wallet's whole history again.

    For a node whose chain was reset (the cursor block is unknown to it). Recording stays
    idempotent, so replaying history adds only what is missing.
    """
    ChainCursor.objects.filter(wallet=wallet).delete()


@dataclass
class SyncResult:
    tip_hash: str
    tip_height: int
    received: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


def onchain_sync_once(*, client: BitcoindClient, target_confirmations: int = 1) -> SyncResult:
    """One step of the watcher: what changed since the cursor, recorded exactly once.

    The node is asked first (no lock, no transaction held while waiting on it); then, in one
    transaction, payments are recorded/updated, one outbox event per change is written and the
    cursor moves to ``lastblock``. A crash anywhere leaves the cursor where it was, and the next
    run repeats the step; the unique (txid, vout) key and the status checks make that repeat
    write nothing twice. A reorg is seen through ``removed`` (bitcoind walks back from our
    cursor block to the fork, src/wallet/rpc/transactions.cpp) and through entries whose
    confirmations dropped to 0 or below.
    """
    wallet = client.wallet or ""
    cursor = ChainCursor.objects.filter(wallet=wallet).first()
    since = cursor.block_hash if cursor else None
    try:
        answer = client.list_since_block(since, target_confirmations=target_confirmations)
    except NodeRPCError as exc:
        if since and exc.rpc_code == RPC_INVALID_ADDRESS_OR_KEY:
            raise NodeError(
                f"The node does not know our last processed block {since} (height {cursor.block_height}); "
                "was its chain reset? Reset the on-chain cursor to resync."
            ) from None
        raise
    tip = client.get_block_header(answer.lastblock)

    with transaction.atomic():
        locked = lock_cursor(wallet=wallet)
        if (locked.block_hash if locked else None) != since:
            raise Conflict("Another watcher advanced the on-chain cursor meanwhile; run again")
        result = SyncResult(tip_hash=answer.lastblock, tip_height=tip["height"])
        _apply(answer.transactions, answer.removed, result, tip_height=tip["height"])
        if locked is None:
            locked = ChainCursor(wallet=wallet, block_hash=answer.lastblock, block_height=tip["height"])
            locked.full_clean(validate_unique=False)
            try:
                with transaction.atomic():
                    locked.save(force_insert=True)
            except IntegrityError:
                # two first runs raced; the unique wallet column let only one of them through
                raise Conflict("Another watcher created the on-chain cursor meanwhile; run again") from None
            moved = True
        else:
            moved = locked.block_hash != answer.lastblock
            locked.block_hash = answer.lastblock
            locked.block_height = tip["height"]
            locked.updated_at = timezone.now()
            locked.full_clean()
            locked.save(update_fields=["block_hash", "block_height", "updated_at"])
        if moved:
            # Lets the invoice layer re-check confirmation depths once per new tip.
            event_emit(
                type=EVENT_TIP,
                aggregate_type="chain",
                aggregate_id=wallet or "default",
                payload={"block_hash": answer.lastblock, "block_height": tip["height"]},
                idempotency_key=f"onchain:tip:{wallet}:{answer.lastblock}",
            )
    return result


def _apply(entries: list[WalletTx], removed: list[WalletTx], result: SyncResult, *, tip_height: int) -> None:
    receives = {}
    for entry in entries:
        if entry.category == "receive":
            if entry.confirmations > 0 and entry.block_height is None:
                # bitcoind before 0.21 gives no blockheight; lastblock is the tip (target 1)
                entry = replace(entry, block_height=tip_height - entry.confirmations + 1)
            receives[(entry.txid, entry.vout)] = entry  # one per outpoint; the last word wins
    gone = {(e.txid, e.vout): e for e in removed if e.category == "receive" and (e.txid, e.vout) not in receives}
    if not receives and not gone:
        return
    addresses = {e.address for e in [*receives.values(), *gone.values()] if e.address}
    watched = {w.address: w for w in WatchedAddress.objects.filter(address__in=addresses)}
    txids = {txid for txid, _vout in [*receives, *gone]}
    payments = {(p.txid, p.vout): p for p in lock_payments(txids=txids)}

    for key in sorted(gone):
        payment = payments.get(key)
        if payment is not None and payment.status != OnchainPayment.Status.REMOVED:
            _transition(payment, OnchainPayment.Status.REMOVED, None, EVENT_REMOVED)
            result.removed.append(payment.pk)

    for key, entry in sorted(receives.items()):
        payment = payments.get(key)
        if payment is None:
            address = watched.get(entry.address)
            if address is None or entry.confirmations < 0 or entry.amount_msat <= 0:
                continue  # not ours (another label of the wallet) or already conflicted
            payment = _create(entry, address)
            result.received.append(payment.pk)
            if payment.status == OnchainPayment.Status.CONFIRMED:
                _emit(payment, EVENT_CONFIRMED, revision=payment.revision + 1)
                payment.revision += 1
                payment.save(update_fields=["revision"])
                result.confirmed.append(payment.pk)
            continue
        if entry.confirmations < 0:
            if payment.status != OnchainPayment.Status.REMOVED:
                _transition(payment, OnchainPayment.Status.REMOVED, None, EVENT_REMOVED)
                result.removed.append(payment.pk)
        elif entry.confirmations > 0:
            if payment.status != OnchainPayment.Status.CONFIRMED or payment.block_hash != entry.block_hash:
                if payment.status == OnchainPayment.Status.REMOVED:
                    _transition(payment, OnchainPayment.Status.SEEN, None, EVENT_RECEIVED)
                    result.received.append(payment.pk)
                _transition(payment, OnchainPayment.Status.CONFIRMED, entry, EVENT_CONFIRMED)
                result.confirmed.append(payment.pk)
        else:
            if payment.status == OnchainPayment.Status.CONFIRMED:
                _transition(payment, OnchainPayment.Status.SEEN, None, EVENT_UNCONFIRMED)
                result.unconfirmed.append(payment.pk)
            elif payment.status == OnchainPayment.Status.REMOVED:
                _transition(payment, OnchainPayment.Status.SEEN, None, EVENT_RECEIVED)
                result.received.append(payment.pk)


def _create(entry: WalletTx, address: WatchedAddress) -> OnchainPayment:
    confirmed = entry.confirmations > 0
    payment = OnchainPayment(
        txid=entry.txid,
        vout=entry.vout,
        address=address,
        amount_msat=entry.amount_msat,
        status=OnchainPayment.Status.CONFIRMED if confirmed else OnchainPayment.Status.SEEN,
        block_hash=entry.block_hash or "" if confirmed else "",
        block_height=entry.block_height if confirmed else None,
        revision=0,
    )
    payment.full_clean()
    payment.save()
    _emit(payment, EVENT_RECEIVED, revision=0)
    return payment


def _transition(payment: OnchainPayment, status: str, entry: WalletTx | None, event_type: str) -> None:
    payment.status = status
    payment.block_hash = entry.block_hash or "" if entry is not None else ""
    payment.block_height = entry.block_height if entry is not None else None
    payment.revision += 1
    payment.updated_at = timezone.now()
    # the outpoint and its address never change after creation: no need to re-validate them
    payment.full_clean(exclude=["address", "txid", "vout"], validate_unique=False)
    payment.save(update_fields=["status", "block_hash", "block_height", "revision", "updated_at"])
    _emit(payment, event_type, revision=payment.revision)


def _emit(payment: OnchainPayment, event_type: str, *, revision: int) -> None:
    event_emit(
        type=event_type,
        aggregate_type="onchain_payment",
        aggregate_id=str(payment.pk),
        payload={
            "txid": payment.txid,
            "vout": payment.vout,
            "address": payment.address.address,
            "amount_msat": payment.amount_msat,
            "status": payment.status,
            "block_hash": payment.block_hash or None,
            "block_height": payment.block_height,
        },
        idempotency_key=f"onchain:{payment.txid}:{payment.vout}:{revision}",
    )


# ---------------------------------------------------------------------------- hot wallets
# A hot wallet is a bitcoind wallet with private keys on BITCOIND_URL that pays out without a
# hardware wallet (card settlement; later payouts and refunds).


class HotWalletRefused(ApplicationError):
    """bitcoind refused a hot-wallet send (insufficient funds, invalid address, dust): nothing was sent."""

    code = "hot-wallet-refused"
    status_code = 409

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason  # bitcoind's own words


def onchain_hot_wallet_open(*, wallet: str) -> BitcoindClient:
    """A client on the hot wallet ``wallet`` (BITCOIND_* settings); the caller closes it."""
    return bitcoind_client_open(wallet=wallet)


def onchain_hot_wallet_send(*, client: BitcoindClient, address: str, amount_sat: int) -> str:
    """Pay ``amount_sat`` to ``address`` from the hot wallet (``sendtoaddress``); its txid.

    HotWalletRefused when bitcoind said no (nothing was sent); OnchainNodeError when no usable
    answer came back (the send may or may not have been made: look for it with
    ``onchain_hot_wallet_send_find``). Never call it with a database lock held.
    """
    if isinstance(amount_sat, bool) or not isinstance(amount_sat, int):
        raise TypeError("amount_sat must be a whole number of sats")
    if amount_sat <= 0:
        raise HotWalletRefused("nothing to send: the amount is not positive", reason="amount not positive")
    try:
        return client.send_to_address(address, Decimal(amount_sat) / SAT_PER_BTC)
    except NodeRPCError as exc:
        raise HotWalletRefused(f"the hot wallet refused the send: {exc.rpc_message}", reason=exc.rpc_message)
