"""The listsinceblock sync against the devnode over real sockets: detection, confirmations, reorgs, crashes."""
from decimal import Decimal

import pytest
from embit import bip32
from embit.networks import NETWORKS

from flashpay.errors import Conflict
from flashpay.events.models import Event
from invoices.models import ChainCursor, OnchainDescriptor, OnchainPayment, WatchedAddress
from invoices.onchain import services
from invoices.onchain.descriptors import derive_address
from invoices.onchain.rpc import NodeError
from invoices.onchain.selectors import onchain_payment_confirmations
from invoices.onchain.services import (
    IMPORT_LOOKAHEAD,
    onchain_cursor_reset,
    onchain_descriptor_register,
    onchain_sync_once,
    onchain_wallet_ensure,
    onchain_watch_address,
)

pytestmark = pytest.mark.django_db


def _vpub(seed: bytes = b"\x07" * 32) -> str:
    return bip32.HDKey.from_seed(seed).derive("m/84h/1h/0h").to_public().to_string(version=NETWORKS["test"]["zpub"])


@pytest.fixture
def store_wallet(settings):
    settings.BITCOIN_NETWORK = "regtest"
    return onchain_descriptor_register(text=_vpub())


def _mine(miner, n=1):
    return miner.generate_to_address(n, miner.get_new_address())


def test_payment_detected_then_confirmed(bitcoind_client, bitcoind_miner, store_wallet):
    # given a fresh invoice address and a synced cursor
    watched = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    onchain_sync_once(client=bitcoind_client)

    # when a customer pays it
    txid = bitcoind_miner.send_to_address(watched.address, Decimal("0.00123456"))
    seen = onchain_sync_once(client=bitcoind_client)

    # then one unconfirmed payment is recorded with the exact amount
    payment = OnchainPayment.objects.get()
    assert (payment.txid, payment.status, payment.amount_msat) == (txid, "seen", 123_456_000)
    assert payment.address == watched
    assert seen.received == [payment.pk]
    assert Event.objects.filter(type="onchain.payment.received", aggregate_id=str(payment.pk)).count() == 1

    # when a block is mined, it is confirmed in that block
    block_hash = _mine(bitcoind_miner)[0]
    result = onchain_sync_once(client=bitcoind_client)
    payment.refresh_from_db()
    assert (payment.status, payment.block_hash, payment.block_height) == ("confirmed", block_hash, 102)
    assert result.confirmed == [payment.pk]
    assert onchain_payment_confirmations(payment=payment, tip_height=result.tip_height) == 1

    # and confirmations follow the tip without re-recording anything
    _mine(bitcoind_miner, 5)
    result = onchain_sync_once(client=bitcoind_client)
    assert result.received == result.confirmed == []
    assert onchain_payment_confirmations(payment=payment, tip_height=result.tip_height) == 6
    assert OnchainPayment.objects.count() == 1
    assert ChainCursor.objects.get().block_height == 107


def test_repeated_sync_writes_nothing_twice(bitcoind_client, bitcoind_miner, store_wallet):
    watched = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    bitcoind_miner.send_to_address(watched.address, Decimal("0.01"))
    _mine(bitcoind_miner)

    onchain_sync_once(client=bitcoind_client)
    events = Event.objects.count()
    again = onchain_sync_once(client=bitcoind_client)

    assert again.received == again.confirmed == []
    assert OnchainPayment.objects.count() == 1
    assert Event.objects.count() == events


def test_payments_to_unwatched_addresses_are_ignored(bitcoind_client, bitcoind_miner, store_wallet):
    # an address of the imported range that was never handed out (no WatchedAddress row)
    onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    stranger = store_wallet.addresses.get().address
    WatchedAddress.objects.all().delete()

    bitcoind_miner.send_to_address(stranger, Decimal("0.5"))
    onchain_sync_once(client=bitcoind_client)

    assert OnchainPayment.objects.count() == 0


def test_reorg_back_to_mempool_unconfirms_and_double_spend_removes(bitcoind, bitcoind_client, bitcoind_miner, store_wallet):
    watched = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    txid = bitcoind_miner.send_to_address(watched.address, Decimal("0.2"))
    block_hash = _mine(bitcoind_miner)[0]
    onchain_sync_once(client=bitcoind_client)
    payment = OnchainPayment.objects.get()
    assert payment.status == "confirmed"

    # when the block is reorged out, the transaction is back in the mempool: unconfirmed again
    bitcoind_client.invalidate_block(block_hash)
    result = onchain_sync_once(client=bitcoind_client)
    payment.refresh_from_db()
    assert (payment.status, payment.block_hash, payment.block_height) == ("seen", "", None)
    assert result.unconfirmed == [payment.pk]

    # when a block on the other branch confirms it again, it is confirmed in the new block
    new_block = _mine(bitcoind_miner)[0]
    onchain_sync_once(client=bitcoind_client)
    payment.refresh_from_db()
    assert (payment.status, payment.block_hash) == ("confirmed", new_block)

    # when that block is reorged out too and the transaction is double-spent away, the payment is undone
    bitcoind_client.invalidate_block(new_block)
    bitcoind_client.call("dropmempooltx", txid)
    _mine(bitcoind_miner, 2)
    result = onchain_sync_once(client=bitcoind_client)
    payment.refresh_from_db()
    assert payment.status == "removed"
    assert result.removed == [payment.pk]
    types = list(Event.objects.filter(aggregate_id=str(payment.pk), aggregate_type="onchain_payment").order_by("id").values_list("type", flat=True))
    assert types == [
        "onchain.payment.received",
        "onchain.payment.confirmed",
        "onchain.payment.unconfirmed",
        "onchain.payment.confirmed",
        "onchain.payment.removed",
    ]
    # and a later sync does not resurrect it
    onchain_sync_once(client=bitcoind_client)
    payment.refresh_from_db()
    assert payment.status == "removed"


def test_unconfirmed_payment_double_spent_away_is_removed(bitcoind_client, bitcoind_miner, store_wallet):
    watched = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    txid = bitcoind_miner.send_to_address(watched.address, Decimal("0.05"))
    onchain_sync_once(client=bitcoind_client)
    assert OnchainPayment.objects.get().status == "seen"

    # the node reports the evicted transaction as conflicted (negative confirmations)
    bitcoind_client.call("dropmempooltx", txid)
    result = onchain_sync_once(client=bitcoind_client)

    payment = OnchainPayment.objects.get()
    assert payment.status == "removed"
    assert result.removed == [payment.pk]
    # the conflict stays reported a while; it is recorded once
    onchain_sync_once(client=bitcoind_client)
    assert Event.objects.filter(type="onchain.payment.removed").count() == 1


def test_payment_replaced_by_fee_paying_elsewhere_is_removed(bitcoind_client, bitcoind_miner, store_wallet):
    from embit.script import Script, address_to_scriptpubkey
    from embit.transaction import Transaction, TransactionInput, TransactionOutput

    watched = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    coin = bitcoind_miner.get_block(bitcoind_miner.get_block_hash(1))["tx"][0]  # a mature 50 BTC coinbase

    def spend(address, sats):
        out = TransactionOutput(sats, Script(address_to_scriptpubkey(address).data))
        return Transaction(vin=[TransactionInput(bytes.fromhex(coin), 0)], vout=[out]).serialize().hex()

    paid = bitcoind_client.send_raw_transaction(spend(watched.address, 4_900_000_000))
    onchain_sync_once(client=bitcoind_client)
    assert OnchainPayment.objects.get(txid=paid).status == "seen"

    # the payer double-spends the same coin to himself with a higher fee
    bitcoind_client.send_raw_transaction(spend(bitcoind_miner.get_new_address(), 4_800_000_000))
    result = onchain_sync_once(client=bitcoind_client)

    payment = OnchainPayment.objects.get()
    assert (payment.txid, payment.status) == (paid, "removed")
    assert result.removed == [payment.pk]


def test_sync_killed_midway_then_resumed_records_everything_exactly_once(
    bitcoind_client, bitcoind_miner, store_wallet, monkeypatch
):
    # given three payments, one confirmed and two in the mempool
    addresses = [onchain_watch_address(client=bitcoind_client, descriptor=store_wallet).address for _ in range(3)]
    onchain_sync_once(client=bitcoind_client)
    cursor_before = ChainCursor.objects.get().block_hash
    bitcoind_miner.send_to_address(addresses[0], Decimal("0.1"))
    _mine(bitcoind_miner)
    bitcoind_miner.send_to_address(addresses[1], Decimal("0.2"))
    bitcoind_miner.send_to_address(addresses[2], Decimal("0.3"))
    events_before = Event.objects.count()

    # when the watcher dies after recording the second payment (between two writes)
    real_emit = services.event_emit
    calls = {"n": 0}

    def dying_emit(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("watcher killed")
        return real_emit(**kwargs)

    monkeypatch.setattr(services, "event_emit", dying_emit)
    with pytest.raises(KeyboardInterrupt):
        onchain_sync_once(client=bitcoind_client)

    # then nothing of the step was written and the cursor did not move
    assert OnchainPayment.objects.count() == 0
    assert Event.objects.count() == events_before
    assert ChainCursor.objects.get().block_hash == cursor_before

    # when it restarts, every payment is recorded once with one event per change
    monkeypatch.setattr(services, "event_emit", real_emit)
    onchain_sync_once(client=bitcoind_client)
    onchain_sync_once(client=bitcoind_client)
    amounts = sorted(OnchainPayment.objects.values_list("amount_msat", flat=True))
    assert amounts == [10_000_000_000, 20_000_000_000, 30_000_000_000]
    assert Event.objects.filter(type="onchain.payment.received").count() == 3
    assert Event.objects.filter(type="onchain.payment.confirmed").count() == 1


def test_concurrent_watcher_that_moved_the_cursor_wins(bitcoind_client, bitcoind_miner, store_wallet, monkeypatch):
    onchain_sync_once(client=bitcoind_client)
    _mine(bitcoind_miner)
    real_list = bitcoind_client.list_since_block

    def list_and_race(*args, **kwargs):
        answer = real_list(*args, **kwargs)
        ChainCursor.objects.update(block_hash="00" * 32)  # another watcher got there first
        return answer

    monkeypatch.setattr(bitcoind_client, "list_since_block", list_and_race)
    with pytest.raises(Conflict):
        onchain_sync_once(client=bitcoind_client)


def test_address_range_grows_ahead_of_handed_out_addresses(bitcoind, bitcoind_client, bitcoind_miner, store_wallet):
    first = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    store_wallet.refresh_from_db()
    assert (first.derivation_index, store_wallet.imported_until) == (0, IMPORT_LOOKAHEAD)

    # jump to the end of the imported range: the next address triggers a wider import
    OnchainDescriptor.objects.filter(pk=store_wallet.pk).update(next_index=IMPORT_LOOKAHEAD + 1)
    far = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    store_wallet.refresh_from_db()
    assert far.derivation_index == IMPORT_LOOKAHEAD + 1
    assert store_wallet.imported_until == 2 * IMPORT_LOOKAHEAD + 1

    # and a payment to it is seen by the node's wallet, so by the sync
    bitcoind_miner.send_to_address(far.address, Decimal("0.0001"))
    onchain_sync_once(client=bitcoind_client)
    assert OnchainPayment.objects.get().address == far


def test_plain_address_watch_is_idempotent_and_detects_payments(bitcoind_client, bitcoind_miner, settings):
    settings.BITCOIN_NETWORK = "regtest"
    target = bitcoind_miner.get_new_address()  # any regtest address, here one of the hot wallet's

    one = onchain_watch_address(client=bitcoind_client, address=target)
    two = onchain_watch_address(client=bitcoind_client, address=target)
    bitcoind_miner.send_to_address(target, Decimal("0.03"))
    onchain_sync_once(client=bitcoind_client)

    assert one == two
    assert OnchainPayment.objects.get().amount_msat == 3_000_000_000


def test_lone_address_later_derived_from_a_registered_wallet_is_adopted(bitcoind_client, store_wallet):
    first = derive_address(store_wallet.descriptor, 0, network="regtest")
    lone = onchain_watch_address(client=bitcoind_client, address=first)

    derived = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)

    assert derived.pk == lone.pk
    assert (derived.descriptor, derived.derivation_index) == (store_wallet, 0)
    assert onchain_watch_address(client=bitcoind_client, descriptor=store_wallet).derivation_index == 1


def test_wrong_network_address_is_refused_and_nothing_written(bitcoind_client, settings):
    settings.BITCOIN_NETWORK = "regtest"
    with pytest.raises(Exception, match="not a regtest address"):
        onchain_watch_address(client=bitcoind_client, address="bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu")
    assert WatchedAddress.objects.count() == 0


def test_new_node_wallet_gets_everything_reimported_with_rescan(bitcoind, bitcoind_client, bitcoind_miner, store_wallet):
    watched = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    bitcoind_miner.send_to_address(watched.address, Decimal("0.4"))
    _mine(bitcoind_miner)

    # a second node wallet name stands for a node that lost its wallet
    from invoices.onchain.rpc import BitcoindClient

    fresh = BitcoindClient(bitcoind.url, rpcuser=bitcoind.rpcuser, rpcpassword=bitcoind.rpcpassword, wallet="flashpay-new")
    assert onchain_wallet_ensure(client=fresh) is True
    assert onchain_wallet_ensure(client=fresh) is False
    onchain_sync_once(client=fresh)

    assert OnchainPayment.objects.get().status == "confirmed"


def test_wallet_ensure_refuses_a_node_of_another_network(bitcoind_client, settings):
    settings.BITCOIN_NETWORK = "main"
    with pytest.raises(NodeError, match="runs 'regtest' but BITCOIN_NETWORK is 'main'") as info:
        onchain_wallet_ensure(client=bitcoind_client)
    assert info.value.code == "node-wrong-network"


def test_unknown_cursor_block_gives_a_clear_error_and_a_reset_resyncs(bitcoind_client, bitcoind_miner, store_wallet):
    watched = onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)
    bitcoind_miner.send_to_address(watched.address, Decimal("0.02"))
    ChainCursor.objects.create(wallet="flashpay", block_hash="11" * 32, block_height=5)

    with pytest.raises(NodeError, match="does not know our last processed block"):
        onchain_sync_once(client=bitcoind_client)
    assert OnchainPayment.objects.count() == 0

    onchain_cursor_reset(wallet="flashpay")
    result = onchain_sync_once(client=bitcoind_client)
    assert OnchainPayment.objects.get().amount_msat == 2_000_000_000
    assert ChainCursor.objects.get().block_hash == result.tip_hash
