"""A watcher process killed with SIGKILL mid-stream and restarted records every payment exactly once."""
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from embit import bip32
from embit.networks import NETWORKS

from flashpay.events.models import Event
from invoices.models import OnchainPayment
from invoices.onchain.services import onchain_descriptor_register, onchain_watch_address

ROOT = Path(__file__).resolve().parents[3]

WATCHER = """
import django, os, threading
django.setup()
from invoices.onchain.rpc import BitcoindClient
from invoices.onchain.watcher import onchain_watch_forever
client = BitcoindClient(os.environ["T_URL"], rpcuser=os.environ["T_USER"], rpcpassword=os.environ["T_PASSWORD"], wallet="flashpay")
onchain_watch_forever(client=client, poll_seconds=0.02)
"""


def _start_watcher(bitcoind) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flashpay.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LOG_LEVEL": "WARNING",
        "T_URL": bitcoind.url,
        "T_USER": bitcoind.rpcuser,
        "T_PASSWORD": bitcoind.rpcpassword,
    }
    return subprocess.Popen([sys.executable, "-c", WATCHER], cwd=ROOT, env=env)


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_sigkilled_watcher_resumes_without_loss_or_duplicates(bitcoind, bitcoind_client, bitcoind_miner, settings):
    settings.BITCOIN_NETWORK = "regtest"
    vpub = bip32.HDKey.from_seed(b"\x09" * 32).derive("m/84h/1h/0h").to_public().to_string(version=NETWORKS["test"]["zpub"])
    wallet = onchain_descriptor_register(text=vpub)
    addresses = [onchain_watch_address(client=bitcoind_client, descriptor=wallet).address for _ in range(12)]
    mine_to = bitcoind_miner.get_new_address()

    watcher = _start_watcher(bitcoind)
    try:
        # payments stream in while the watcher runs; it is killed (SIGKILL, no cleanup) mid-stream
        for i, address in enumerate(addresses):
            bitcoind_miner.send_to_address(address, Decimal(i + 1) / 1000)
            if i % 3 == 2:
                bitcoind_miner.generate_to_address(1, mine_to)
            if i == 5:
                _wait_for(lambda: OnchainPayment.objects.exists())
                watcher.send_signal(signal.SIGKILL)
                watcher.wait(timeout=10)
                watcher = _start_watcher(bitcoind)
        bitcoind_miner.generate_to_address(1, mine_to)

        assert _wait_for(
            lambda: OnchainPayment.objects.filter(status="confirmed").count() == len(addresses)
        ), list(OnchainPayment.objects.values_list("status", flat=True))
    finally:
        watcher.send_signal(signal.SIGKILL)
        watcher.wait(timeout=10)

    amounts = sorted(OnchainPayment.objects.values_list("amount_msat", flat=True))
    assert amounts == [(i + 1) * 100_000_000 for i in range(len(addresses))]
    assert Event.objects.filter(type="onchain.payment.received").count() == len(addresses)
    assert Event.objects.filter(type="onchain.payment.confirmed").count() == len(addresses)


@pytest.mark.django_db(transaction=True)
def test_watcher_rides_out_an_unreachable_node_and_stops_on_request():
    import socket
    import threading

    from invoices.models import ChainCursor
    from invoices.onchain.rpc import BitcoindClient
    from invoices.onchain.watcher import onchain_watch_forever

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = BitcoindClient(f"http://127.0.0.1:{port}", rpcuser="u", rpcpassword="p", wallet="flashpay", timeout=1)
    stop = threading.Event()
    thread = threading.Thread(target=onchain_watch_forever, kwargs={"client": client, "poll_seconds": 0.01, "stop": stop})
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()  # no crash: it backs off and retries

    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert ChainCursor.objects.count() == 0
