"""ZMQ wake-ups: the devnode publishes bitcoind's hashblock/rawtx, and the watcher reacts without polling."""
import threading
import time
from decimal import Decimal

import pytest
import zmq
from embit import bip32
from embit.networks import NETWORKS
from embit.transaction import Transaction

from devnode.bitcoind import BitcoindSimulator
from invoices.models import OnchainPayment
from invoices.onchain.notify import ZmqWaker
from invoices.onchain.rpc import BitcoindClient
from invoices.onchain.services import onchain_descriptor_register, onchain_watch_address
from invoices.onchain.watcher import onchain_watch_forever


@pytest.fixture
def zmq_node():
    node = BitcoindSimulator(port=0, rpcuser="u", rpcpassword="p", premine_blocks=101, zmq_port=0).start()
    yield node
    node.stop()


def _client(node, wallet):
    return BitcoindClient(node.url, rpcuser="u", rpcpassword="p", wallet=wallet, timeout=5)


def test_devnode_publishes_hashblock_and_rawtx_in_bitcoinds_format(zmq_node):
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 3000)
    sub.connect(zmq_node.zmq_url)
    time.sleep(0.3)  # ZMQ subscriptions take a moment to propagate
    miner = _client(zmq_node, "devnode")
    try:
        txid = miner.send_to_address(miner.get_new_address(), Decimal("1"))
        topic, body, seq = sub.recv_multipart()
        assert topic == b"rawtx"
        assert Transaction.parse(body).txid().hex() == txid
        first_seq = int.from_bytes(seq, "little")

        block = miner.generate_to_address(1, miner.get_new_address())[0]
        received = [sub.recv_multipart() for _ in range(3)]  # rawtx of the coinbase and the payment, then hashblock
        rawtxs = [m for m in received if m[0] == b"rawtx"]
        assert [m[0] for m in received] == [b"rawtx", b"rawtx", b"hashblock"]
        hashblocks = [m for m in received if m[0] == b"hashblock"]
        assert hashblocks[0][1].hex() == block
        assert [int.from_bytes(m[2], "little") for m in rawtxs] == [first_seq + 1, first_seq + 2]
    finally:
        sub.close(linger=0)
        context.term()


@pytest.mark.django_db(transaction=True)
def test_watcher_with_zmq_detects_at_once_despite_a_long_poll_interval(zmq_node, settings):
    settings.BITCOIN_NETWORK = "regtest"
    watch = _client(zmq_node, "flashpay")
    watch.ensure_watch_only_wallet()
    miner = _client(zmq_node, "devnode")
    vpub = bip32.HDKey.from_seed(b"\x05" * 32).derive("m/84h/1h/0h").to_public().to_string(version=NETWORKS["test"]["zpub"])
    address = onchain_watch_address(client=watch, descriptor=onchain_descriptor_register(text=vpub)).address

    waker = ZmqWaker(zmq_node.zmq_url)
    stop = threading.Event()
    synced = threading.Event()
    thread = threading.Thread(
        target=onchain_watch_forever,
        kwargs={"client": watch, "poll_seconds": 30, "stop": stop, "waker": waker, "on_result": lambda r: synced.set()},
    )
    thread.start()
    try:
        assert synced.wait(5)  # first sync done; the loop now sleeps up to 30 s unless woken
        time.sleep(0.3)
        started = time.monotonic()
        txid = miner.send_to_address(address, Decimal("0.001"))
        deadline = started + 5
        while not OnchainPayment.objects.filter(txid=txid).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert OnchainPayment.objects.filter(txid=txid).exists()
        assert time.monotonic() - started < 5  # far below the 30 s poll interval
    finally:
        stop.set()
        miner.generate_to_address(1, miner.get_new_address())  # wakes the loop so it sees stop
        thread.join(timeout=35)
        waker.close()
    assert not thread.is_alive()
