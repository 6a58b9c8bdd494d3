"""Merchant settlement: what FlashPay stores earned from card payments, paid out in batches.

A batch takes a store's card payments not yet settled, keeps the program's fee (the schedule's
ppm) and pays the rest to the store's Lightning address (LUD-16) / LNURL-pay URL (LUD-06), or to
its bitcoin address: from the hot wallet CARD_SETTLEMENT_HOT_WALLET (bitcoind ``sendtoaddress``)
when one is configured, else by an operator who then marks the batch paid. The money is reserved
first: a ledger hold merchant -> node or hot wallet (net) + fees (fee) is committed before
anything is paid, posted when the payout succeeds (on-chain: confirmed) and voided (payments
released to the next batch) when it fails.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from cards.locks import settlement_batch_lock
from cards.models import CardPayment, MerchantSettlementSchedule, SettlementBatch
from flashpay.errors import ApplicationError, Conflict, FieldError, InsufficientFunds, NotFound
from flashpay.events.services import event_emit
from flashpay.ledger.accounts import (
    card_settlement_fees_account,
    hot_wallet_account,
    merchant_account,
    node_account,
)
from flashpay.ledger.selectors import transaction_get
from flashpay.ledger.services import hold_create, hold_post, hold_void
from flashpay.money import MSAT_PER_SAT
from invoices.onchain.selectors import (
    onchain_hot_wallet_send_find,
    onchain_hot_wallet_tip,
    onchain_hot_wallet_transaction_get,
)
from invoices.onchain.services import (
    HotWalletRefused,
    OnchainNodeError,
    onchain_hot_wallet_open,
    onchain_hot_wallet_send,
)
from lightning.selectors import decode_bolt11
from lightning.services import (
    InvalidPaymentRequest,
    LightningBackend,
    LightningError,
    PaymentStatus,
    server_node_client,
)

logger = logging.getLogger(__name__)

_LIGHTNING_ADDRESS = re.compile(r"^[a-z0-9\-_.+]+@[a-z0-9\-.]+\.[a-z]{2,}(:\d+)?$", re.IGNORECASE)
_ONCHAIN = re.compile(r"^(bc1|tb1|bcrt1|[123mn])[a-zA-HJ-NP-Z0-9]{20,90}$")


B = SettlementBatch.Status
# The batch state machine; every change is announced in the outbox (the audit trail, webhooks).
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    B.OPEN: frozenset({B.PAYING, B.PAID, B.FAILED}),
    B.AWAITING_MANUAL: frozenset({B.PAID, B.FAILED}),
    B.PAYING: frozenset({B.PAID, B.FAILED}),
    B.PAID: frozenset(),
    B.FAILED: frozenset(),
}
SETTLEMENT_BATCH_EVENT = "CardSettlementBatchChanged"


def _batch_transition(batch: SettlementBatch, to: str, fields: list[str], reason: str = "") -> None:
    """Move a locked batch to ``to`` (guarded by BATCH_TRANSITIONS) and record the change."""
    if to not in BATCH_TRANSITIONS[batch.status]:
        raise Conflict(f"a {batch.status} settlement batch cannot become {to}", code="settlement-invalid-transition")
    from_status, batch.status = batch.status, to
    batch.full_clean(validate_unique=False, validate_constraints=False)
    batch.save(update_fields=["status", *fields])
    event_emit(
        type=SETTLEMENT_BATCH_EVENT,
        aggregate_type="settlement_batch",
        aggregate_id=batch.public_id,
        payload={
            "batchId": batch.public_id, "storeId": batch.store_id, "from": from_status, "to": to,
            "net_msat": batch.net_msat, "reason": reason[:500],
        },
    )


class PayoutError(ApplicationError):
    code = "settlement-payout-failed"
    status_code = 502


def _validate_destination(destination_type: str, destination: str) -> str:
    destination = destination.strip()
    kinds = MerchantSettlementSchedule.DestinationType
    if destination_type == kinds.LIGHTNING_ADDRESS and not _LIGHTNING_ADDRESS.match(destination):
        raise FieldError("destination", "must be a Lightning address like name@example.com")
    # LUD-06 services are https; plain http only for a local development payee.
    allowed = ("https", "http") if settings.DEBUG else ("https",)
    if destination_type == kinds.LNURL_PAY and urlsplit(destination).scheme not in allowed:
        raise FieldError("destination", "must be the https URL of an LNURL-pay endpoint")
    if destination_type == kinds.ONCHAIN and not _ONCHAIN.match(destination):
        raise FieldError("destination", "must be a bitcoin address")
    if destination_type not in kinds.values:
        raise FieldError("destination_type", f"must be one of {', '.join(kinds.values)}")
    return destination


def settlement_schedule_set(
    *,
    store_id: str,
    destination_type: str,
    destination: str,
    interval_days: int = 1,
    minimum_msat: int = 0,
    fee_ppm: int = 0,
    enabled: bool = True,
) -> MerchantSettlementSchedule:
    """Create or replace a store's settlement schedule (daily by default)."""
    if store_id and store_id == settings.FLASH_PROGRAM_STORE_ID:
        # Its merchant account only passes top-ups through to cards (cards/services/topups.py).
        raise FieldError("store_id", "the card program's top-up store is not a merchant to settle")
    destination = _validate_destination(destination_type, destination)
    schedule = MerchantSettlementSchedule.objects.filter(store_id=store_id).first() or MerchantSettlementSchedule(
        store_id=store_id
    )
    schedule.destination_type = destination_type
    schedule.destination = destination
    schedule.interval_days = interval_days
    schedule.minimum_msat = minimum_msat
    schedule.fee_ppm = fee_ppm
    schedule.enabled = enabled
    schedule.full_clean()
    schedule.save()
    return schedule


def _due(schedule: MerchantSettlementSchedule, now: datetime) -> bool:
    return schedule.last_batch_at is None or schedule.last_batch_at <= now - timedelta(days=schedule.interval_days)


def settlement_batch_create(*, schedule: MerchantSettlementSchedule, now: datetime | None = None) -> SettlementBatch | None:
    """Batch the store's unsettled card payments and reserve the payout; None when there is
    nothing to pay or less than the schedule's minimum."""
    now = now or timezone.now()
    with transaction.atomic():
        payments = list(
            CardPayment.objects.select_for_update(no_key=True, of=("self",))
            .filter(
                merchant_store_id=schedule.store_id,
                status=CardPayment.Status.SUCCEEDED,
                settlement_batch__isnull=True,
                created_at__lte=now,
            )
            .order_by("pk")
        )
        gross = sum(p.amount_msat for p in payments)
        if gross == 0 or gross < schedule.minimum_msat:
            return None
        fee = gross * schedule.fee_ppm // 1_000_000
        net = gross - fee
        batch = SettlementBatch(
            store_id=schedule.store_id,
            gross_msat=gross,
            fee_ppm=schedule.fee_ppm,
            fee_msat=fee,
            net_msat=net,
            destination_type=schedule.destination_type,
            destination=schedule.destination,
        )
        batch.full_clean(validate_unique=False, validate_constraints=False)
        batch.save(force_insert=True)
        onchain = schedule.destination_type == MerchantSettlementSchedule.DestinationType.ONCHAIN
        automatic = onchain and bool(settings.CARD_SETTLEMENT_HOT_WALLET)
        entries = [(merchant_account(store_id=schedule.store_id), -gross)]
        if net:
            # The money leaves through the hot wallet that will send it, or through the node.
            hot_wallet = settings.CARD_SETTLEMENT_HOT_WALLET
            entries.append((hot_wallet_account(wallet=hot_wallet) if automatic else node_account(), net))
        if fee:
            entries.append((card_settlement_fees_account(), fee))
        hold = hold_create(
            entries=entries,
            idempotency_key=f"card-settlement:{batch.public_id}",
            description=f"Card settlement batch {batch.public_id}",
            metadata={"type": "card_settlement", "batch": batch.public_id, "store": schedule.store_id},
        )
        batch.hold_transaction_id = hold.pk
        if onchain and not automatic:
            batch.status = SettlementBatch.Status.AWAITING_MANUAL
        batch.save(update_fields=["hold_transaction_id", "status"])
        event_emit(
            type=SETTLEMENT_BATCH_EVENT,
            aggregate_type="settlement_batch",
            aggregate_id=batch.public_id,
            payload={
                "batchId": batch.public_id, "storeId": batch.store_id, "from": "", "to": batch.status,
                "net_msat": batch.net_msat, "reason": f"{len(payments)} card payments",
            },
        )
        CardPayment.objects.filter(pk__in=[p.pk for p in payments]).update(settlement_batch=batch)
        schedule.last_batch_at = now
        schedule.save(update_fields=["last_batch_at", "updated_at"])
    return batch


def _lnurlp_url(destination_type: str, destination: str) -> str:
    if destination_type == MerchantSettlementSchedule.DestinationType.LIGHTNING_ADDRESS:
        # LUD-16: name@domain -> https://domain/.well-known/lnurlp/name
        name, domain = destination.split("@", 1)
        scheme = "http" if domain.endswith(".onion") or settings.DEBUG and domain.startswith(("127.0.0.1", "localhost")) else "https"
        return f"{scheme}://{domain}/.well-known/lnurlp/{name}"
    return destination


def lnurlp_fetch_invoice(*, destination_type: str, destination: str, amount_msat: int, timeout: float = 10.0) -> str:
    """Ask a Lightning address / LNURL-pay service for an invoice of ``amount_msat`` (LUD-06)."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            meta = client.get(_lnurlp_url(destination_type, destination)).json()
            if meta.get("status") == "ERROR" or meta.get("tag") != "payRequest":
                raise PayoutError(f"the payee's LNURL-pay answered: {meta.get('reason', 'not a payRequest')}")
            if not int(meta["minSendable"]) <= amount_msat <= int(meta["maxSendable"]):
                raise PayoutError("the payee does not accept this amount")
            separator = "&" if "?" in meta["callback"] else "?"
            answer = client.get(f"{meta['callback']}{separator}amount={amount_msat}").json()
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise PayoutError(f"the payee's LNURL-pay service failed: {exc.__class__.__name__}")
    if answer.get("status") == "ERROR" or not answer.get("pr"):
        raise PayoutError(f"the payee's LNURL-pay answered: {answer.get('reason', 'no invoice')}")
    pr = answer["pr"]
    try:
        decoded = decode_bolt11(pr, network=settings.BITCOIN_NETWORK)
    except InvalidPaymentRequest as exc:
        raise PayoutError(exc.message)
    # LUD-06: the invoice must be for exactly the amount asked, and its description hash (h)
    # must commit to the metadata the service published.
    if decoded.amount_msat != amount_msat:
        raise PayoutError("the payee's invoice is for another amount")
    expected_hash = hashlib.sha256(str(meta.get("metadata", "")).encode()).hexdigest()
    if decoded.description_hash != expected_hash:
        raise PayoutError("the payee's invoice does not commit to its LNURL-pay metadata")
    return pr


def settlement_batch_pay(*, batch: SettlementBatch, backend: LightningBackend | None = None) -> SettlementBatch:
    """Pay an open batch over Lightning (no lock held while paying); settle on the answer."""
    with transaction.atomic():
        batch = settlement_batch_lock(pk=batch.pk)
        if batch.status != SettlementBatch.Status.OPEN:
            return batch
        _batch_transition(batch, SettlementBatch.Status.PAYING, [])
    try:
        pr = lnurlp_fetch_invoice(destination_type=batch.destination_type, destination=batch.destination, amount_msat=batch.net_msat)
    except PayoutError as exc:
        return settlement_batch_fail(batch=batch, reason=exc.message)
    batch.payment_hash = decode_bolt11(pr).payment_hash
    batch.save(update_fields=["payment_hash"])
    backend = backend or server_node_client()
    # Routing fees of payouts are the program's cost, bounded like card payments' reserve.
    fee_limit = settings.CARD_ROUTING_FEE_BASE_MSAT + batch.net_msat * settings.CARD_ROUTING_FEE_PPM // 1_000_000
    try:
        result = backend.pay(pr, fee_limit_msat=fee_limit, timeout=settings.CARD_PAYMENT_TIMEOUT)
    except LightningError as exc:
        logger.warning("settlement %s: node error %s; left paying", batch.public_id, exc.code)
        return batch
    if result.status == PaymentStatus.SUCCESS:
        return settlement_batch_mark_paid(batch=batch, routing_fee_msat=result.fee_msat)
    if result.status == PaymentStatus.FAILED:
        return settlement_batch_fail(batch=batch, reason=result.reason or "payment failed")
    return batch  # unknown: stays "paying" for an operator / a later run


# --- on-chain payouts from the hot wallet ------------------------------------------------------

# A send whose answer was lost is looked for in the wallet only after this long (bitcoind may
# still be working on it); not found then, it was never made and the batch fails.
ONCHAIN_UNKNOWN_AFTER = timedelta(minutes=10)
ONCHAIN_CONFIRMATIONS = 1


def hot_wallet_client():
    """bitcoind (BITCOIND_* settings) on the wallet CARD_SETTLEMENT_HOT_WALLET; the caller closes it."""
    return onchain_hot_wallet_open(wallet=settings.CARD_SETTLEMENT_HOT_WALLET)


def _payout_sats(batch: SettlementBatch) -> int:
    # On-chain amounts are whole sats; the sub-sat rest of net_msat stays with the hot wallet.
    return batch.net_msat // MSAT_PER_SAT


def settlement_batch_pay_onchain(*, batch: SettlementBatch, client=None) -> SettlementBatch:
    """Pay an open on-chain batch from the hot wallet (``sendtoaddress``), its payout reserved.

    The batch turns "paying" and records the chain tip in one committed transaction BEFORE the
    send; bitcoind's txid is recorded after. A refusal by bitcoind fails the batch (the
    reservation goes back to the merchant); no answer leaves it paying, for
    ``settlement_batches_onchain_reconcile`` to find the send in the wallet or fail it. Paid once
    the transaction confirms. No lock is held while bitcoind is called.
    """
    own_client = client is None
    client = client or hot_wallet_client()
    try:
        try:
            tip = onchain_hot_wallet_tip(client=client)
        except OnchainNodeError as exc:
            logger.warning("settlement %s: bitcoind unavailable (%s); left open", batch.public_id, exc.code)
            return batch
        with transaction.atomic():
            batch = settlement_batch_lock(pk=batch.pk)
            if batch.status != SettlementBatch.Status.OPEN or batch.destination_type != MerchantSettlementSchedule.DestinationType.ONCHAIN:
                return batch
            batch.payout_started_at = timezone.now()
            batch.payout_since_block = tip
            _batch_transition(batch, SettlementBatch.Status.PAYING, ["payout_started_at", "payout_since_block"])
        try:
            txid = onchain_hot_wallet_send(client=client, address=batch.destination, amount_sat=_payout_sats(batch))
        except HotWalletRefused as exc:
            # bitcoind answered with a refusal (insufficient funds, invalid address, dust): nothing sent.
            return settlement_batch_fail(batch=batch, reason=f"the hot wallet refused the payout: {exc.reason}"[:500])
        except OnchainNodeError as exc:
            logger.warning("settlement %s: no answer from bitcoind (%s); left paying", batch.public_id, exc.code)
            return batch
        SettlementBatch.objects.filter(pk=batch.pk, txid="").update(txid=txid)
        batch.txid = txid
        return batch
    finally:
        if own_client:
            client.close()


def _find_lost_send(batch: SettlementBatch, client) -> str | None:
    """The txid of a hot-wallet send matching the batch (address and amount) since the payout
    started that no other batch has claimed, if any."""
    claimed = set(SettlementBatch.objects.exclude(txid="").values_list("txid", flat=True))
    return onchain_hot_wallet_send_find(
        client=client,
        since_block=batch.payout_since_block or None,
        address=batch.destination,
        amount_sat=_payout_sats(batch),
        excluding=claimed,
    )


def settlement_batches_onchain_reconcile(*, client=None, now: datetime | None = None) -> int:
    """Settle on-chain batches left paying: confirmed -> paid (network fee recorded); a send
    whose answer was lost is found in the wallet, or the batch fails once it is surely not there.
    Returns how many batches changed."""
    now = now or timezone.now()
    paying = SettlementBatch.objects.filter(
        status=SettlementBatch.Status.PAYING, destination_type=MerchantSettlementSchedule.DestinationType.ONCHAIN
    ).order_by("pk")
    if not paying.exists():
        return 0
    own_client = client is None
    client = client or hot_wallet_client()
    changed = 0
    try:
        for batch in paying:
            if not batch.txid:
                if batch.payout_started_at and batch.payout_started_at > now - ONCHAIN_UNKNOWN_AFTER:
                    continue
                txid = _find_lost_send(batch, client)
                if txid is None:
                    settlement_batch_fail(batch=batch, reason="the hot wallet never sent the payout")
                    changed += 1
                    continue
                SettlementBatch.objects.filter(pk=batch.pk, txid="").update(txid=txid)
                batch.txid = txid
            tx = onchain_hot_wallet_transaction_get(client=client, txid=batch.txid)
            confirmations = tx.confirmations
            if confirmations is not None and confirmations >= ONCHAIN_CONFIRMATIONS:
                settlement_batch_mark_paid(batch=batch, routing_fee_msat=tx.fee_msat)
                changed += 1
            elif confirmations is not None and confirmations < 0:
                logger.error("settlement %s: payout %s conflicts with another transaction", batch.public_id, batch.txid)
    except OnchainNodeError as exc:
        logger.warning("settlement on-chain reconcile: bitcoind error %s; will retry", exc.code)
    finally:
        if own_client:
            client.close()
    return changed


def settlement_batch_mark_paid(*, batch: SettlementBatch, routing_fee_msat: int = 0) -> SettlementBatch:
    """Post the batch's reserved payout (also the operator's action after an on-chain payout)."""
    with transaction.atomic():
        batch = settlement_batch_lock(pk=batch.pk)
        if batch.status == SettlementBatch.Status.PAID:
            return batch
        if SettlementBatch.Status.PAID not in BATCH_TRANSITIONS[batch.status]:
            raise Conflict(f"a {batch.status} batch cannot be marked paid", code="settlement-not-payable")
        hold_post(hold=batch.hold_transaction_id)
        batch.routing_fee_msat = max(0, int(routing_fee_msat))
        batch.paid_at = timezone.now()
        _batch_transition(batch, SettlementBatch.Status.PAID, ["routing_fee_msat", "paid_at"])
    return batch


def settlement_batch_fail(*, batch: SettlementBatch, reason: str) -> SettlementBatch:
    """Give the reserved money back to the merchant and release the payments to a later batch."""
    with transaction.atomic():
        batch = settlement_batch_lock(pk=batch.pk)
        if batch.status in (SettlementBatch.Status.PAID, SettlementBatch.Status.FAILED):
            return batch
        hold_void(hold=batch.hold_transaction_id)
        CardPayment.objects.filter(settlement_batch=batch).update(settlement_batch=None)
        batch.failure_reason = reason[:500]
        _batch_transition(batch, SettlementBatch.Status.FAILED, ["failure_reason"], reason=reason)
        MerchantSettlementSchedule.objects.filter(store_id=batch.store_id).update(last_batch_at=None)
    return batch


def card_payment_merchant_set(*, payment_hash: str, store_id: str) -> int:
    """Name the store an internal card payment paid (from the invoices app's payment event);
    only a payment without a merchant yet is changed. Returns 1 if one was named."""
    from flashpay.accounts.selectors import store_get

    try:
        name = store_get(store_id=store_id).name
    except ApplicationError:
        return 0
    return CardPayment.objects.filter(
        payment_hash=payment_hash, kind=CardPayment.Kind.INTERNAL, merchant_store_id=""
    ).update(merchant_store_id=store_id, merchant_name=name[:200])


def card_payment_merchants_resolve() -> int:
    """Name the store of internal card payments whose merchant was not known at payment time.

    The invoices app credits node -> merchant for a settled invoice of ours under the ledger
    idempotency key = the payment hash, with the store in its metadata ("storeId"); that public
    ledger record is what ties a card payment to its store here. Returns how many were named.
    """
    from flashpay.accounts.selectors import store_get

    named = 0
    unresolved = CardPayment.objects.filter(
        kind=CardPayment.Kind.INTERNAL, status=CardPayment.Status.SUCCEEDED, merchant_store_id=""
    ).order_by("pk")[:1000]
    for payment in unresolved:
        try:
            store_id = str((transaction_get(idempotency_key=payment.payment_hash).metadata or {}).get("storeId") or "")
        except NotFound:
            continue
        if not store_id:
            continue
        try:
            name = store_get(store_id=store_id).name
        except ApplicationError:
            name = ""
        named += CardPayment.objects.filter(pk=payment.pk, merchant_store_id="").update(
            merchant_store_id=store_id, merchant_name=name[:200]
        )
    return named


def settlement_batches_reconcile(*, backend: LightningBackend | None = None) -> int:
    """Ask the node about batches left "paying" (no final answer in time); settle those it knows."""
    done = 0
    paying = SettlementBatch.objects.filter(status=SettlementBatch.Status.PAYING).exclude(payment_hash="").order_by("pk")
    for batch in paying:
        backend = backend or server_node_client()
        try:
            result = backend.track_payment(batch.payment_hash)
        except LightningError as exc:
            logger.warning("settlement reconcile: node error %s; will retry", exc.code)
            break
        if result.status == PaymentStatus.SUCCESS:
            settlement_batch_mark_paid(batch=batch, routing_fee_msat=result.fee_msat)
            done += 1
        elif result.status == PaymentStatus.FAILED:
            settlement_batch_fail(batch=batch, reason=result.reason or "payment failed")
            done += 1
    return done


def settlement_run(
    *, now: datetime | None = None, backend: LightningBackend | None = None, bitcoind=None
) -> list[SettlementBatch]:
    """Create the batches that are due and pay them: Lightning ones over the node, on-chain ones
    from the hot wallet when one is configured (the scheduled task)."""
    now = now or timezone.now()
    card_payment_merchants_resolve()
    settlement_batches_reconcile(backend=backend)
    retried = []
    if settings.CARD_SETTLEMENT_HOT_WALLET:
        settlement_batches_onchain_reconcile(client=bitcoind, now=now)
        # Batches left open because bitcoind was down when they were made.
        for batch in SettlementBatch.objects.filter(
            status=SettlementBatch.Status.OPEN, destination_type=MerchantSettlementSchedule.DestinationType.ONCHAIN
        ).order_by("pk"):
            retried.append(settlement_batch_pay_onchain(batch=batch, client=bitcoind))
    batches = retried
    for schedule in MerchantSettlementSchedule.objects.filter(enabled=True).order_by("pk"):
        if not _due(schedule, now):
            continue
        try:
            batch = settlement_batch_create(schedule=schedule, now=now)
        except InsufficientFunds:
            # The store's ledger account does not (yet) hold what its card payments earned.
            logger.error("settlement of store %s: merchant balance below its card payments", schedule.store_id)
            continue
        if batch is None:
            continue
        if batch.status == SettlementBatch.Status.OPEN:
            if batch.destination_type == MerchantSettlementSchedule.DestinationType.ONCHAIN:
                batch = settlement_batch_pay_onchain(batch=batch, client=bitcoind)
            else:
                batch = settlement_batch_pay(batch=batch, backend=backend)
        batches.append(batch)
    return batches


def settlement_unbatched_total_msat(*, store_id: str) -> int:
    total = CardPayment.objects.filter(
        merchant_store_id=store_id, status=CardPayment.Status.SUCCEEDED, settlement_batch__isnull=True
    ).aggregate(total=Sum("amount_msat"))["total"]
    return int(total or 0)
