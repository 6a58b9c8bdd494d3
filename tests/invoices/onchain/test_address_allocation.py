"""Handing out receive addresses: one atomic index per call, even for concurrent invoices of one store."""
import pytest
from embit import bip32
from embit.networks import NETWORKS

from flashpay.errors import Conflict
from invoices.models import OnchainDescriptor, WatchedAddress
from invoices.onchain.descriptors import derive_address
from invoices.onchain.services import onchain_descriptor_register, onchain_watch_address
from tests.concurrency import run_together


def _vpub(seed: bytes) -> str:
    return bip32.HDKey.from_seed(seed).derive("m/84h/1h/0h").to_public().to_string(version=NETWORKS["test"]["zpub"])


@pytest.fixture
def store_wallet(settings):
    settings.BITCOIN_NETWORK = "regtest"
    return onchain_descriptor_register(text=_vpub(b"\x11" * 32))


@pytest.mark.django_db(transaction=True)
def test_concurrent_invoices_of_one_store_get_distinct_consecutive_addresses(bitcoind_client, store_wallet):
    results: list[WatchedAddress] = []

    def allocate():
        for _ in range(3):
            descriptor = OnchainDescriptor.objects.get(pk=store_wallet.pk)
            results.append(onchain_watch_address(client=bitcoind_client, descriptor=descriptor))

    assert run_together(*[allocate] * 8, timeout=30).errors == []
    assert sorted(w.derivation_index for w in results) == list(range(24))
    stored = {w.derivation_index: w.address for w in WatchedAddress.objects.filter(descriptor=store_wallet)}
    assert stored == {i: derive_address(store_wallet.descriptor, i, network="regtest") for i in range(24)}
    store_wallet.refresh_from_db()
    assert store_wallet.next_index == 24
    assert store_wallet.imported_until >= 23  # every handed-out address is covered by the node


@pytest.mark.django_db
def test_an_address_already_watched_for_another_wallet_is_refused_and_left_alone(bitcoind_client, store_wallet):
    other = onchain_descriptor_register(text=_vpub(b"\x22" * 32))
    taken = derive_address(store_wallet.descriptor, 0, network="regtest")
    # stands for a second wallet that derives the same address (a duplicated key)
    WatchedAddress.objects.create(address=taken, descriptor=other, derivation_index=5)

    with pytest.raises(Conflict):
        onchain_watch_address(client=bitcoind_client, descriptor=store_wallet)

    row = WatchedAddress.objects.get(address=taken)
    assert (row.descriptor_id, row.derivation_index) == (other.pk, 5)
    assert WatchedAddress.objects.count() == 1
    # the next invoice moves on to a fresh index
    assert onchain_watch_address(client=bitcoind_client, descriptor=store_wallet).derivation_index == 1
