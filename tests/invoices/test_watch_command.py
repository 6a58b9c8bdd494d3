"""`manage.py watch` as a real process: one active instance, a standby that takes over after a kill -9."""
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from embit import bip32
from embit.networks import NETWORKS

from flashpay.events.models import Event
from invoices.models import OnchainPayment
from invoices.onchain.services import onchain_descriptor_register, onchain_watch_address
from lightning.models import LightningInvoice
from lightning.services import INVOICE_SETTLED_EVENT, lightning_invoice_create


def _env(bitcoind, lnd_network) -> dict:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "BITCOIND_URL": bitcoind.url,
        "BITCOIND_RPCUSER": bitcoind.rpcuser,
        "BITCOIND_RPCPASSWORD": bitcoind.rpcpassword,
        "BITCOIND_WALLET": "flashpay",
        "LIGHTNING_CONNECTION_STRING": lnd_network.connection_string("flashpay"),
        "LOG_LEVEL": "INFO",
    }


def _start(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "watch", "--poll", "0.1"],
            cwd=django_settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(10)


def _wait_for(condition, what: str, *logs: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in logs if log.exists())
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@pytest.mark.django_db(transaction=True)
def test_standby_watcher_takes_over_after_a_kill_and_nothing_is_recorded_twice(
    bitcoind, bitcoind_client, bitcoind_miner, lnd_network, lnd_backend, lnd_external, tmp_path, settings
):
    settings.BITCOIN_NETWORK = "regtest"
    env = _env(bitcoind, lnd_network)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    first = _start(env, log_a)
    standby = None
    try:
        _wait_for(lambda: "lock acquired" in log_a.read_text(), "the first watcher", log_a)
        standby = _start(env, log_b)
        _wait_for(lambda: "standing by" in log_b.read_text(), "the standby", log_b)

        # the active watcher records a Lightning settlement and an on-chain payment
        invoice = lightning_invoice_create(backend=lnd_backend, amount_msat=21_000, memo="one", expiry=600)
        assert lnd_external.pay(invoice.bolt11, fee_limit_msat=0, timeout=10).status == "success"
        vpub = bip32.HDKey.from_seed(b"\x07" * 32).derive("m/84h/1h/0h").to_public()
        wallet = onchain_descriptor_register(text=vpub.to_string(version=NETWORKS["test"]["zpub"]))
        address = onchain_watch_address(client=bitcoind_client, descriptor=wallet).address
        bitcoind_miner.send_to_address(address, Decimal("0.0002"))
        _wait_for(
            lambda: LightningInvoice.objects.filter(pk=invoice.pk, status="settled").exists()
            and OnchainPayment.objects.filter(address__address=address).exists(),
            "the first watcher to record both payments", log_a,
        )
        assert "lock acquired" not in log_b.read_text()

        # when: the active watcher dies without any cleanup
        _kill(first)
        _wait_for(lambda: "lock acquired" in log_b.read_text(), "the standby to take over", log_b)

        # then: the standby follows both nodes from where the first one stopped
        second = lightning_invoice_create(backend=lnd_backend, amount_msat=34_000, memo="two", expiry=600)
        assert lnd_external.pay(second.bolt11, fee_limit_msat=0, timeout=10).status == "success"
        _wait_for(
            lambda: LightningInvoice.objects.filter(pk=second.pk, status="settled").exists(),
            "the standby to record the second settlement", log_b,
        )
        time.sleep(0.5)  # give a duplicate the chance to appear
        assert Event.objects.filter(type=INVOICE_SETTLED_EVENT).count() == 2
        assert LightningInvoice.objects.get(pk=second.pk).amount_received_msat == 34_000
        assert OnchainPayment.objects.filter(address__address=address).count() == 1
    finally:
        _kill(first)
        if standby is not None:
            _kill(standby)
