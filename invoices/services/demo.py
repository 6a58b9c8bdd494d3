"""Development demo: a regtest wallet and the internal Lightning node for the demo store, and a demo invoice."""
from __future__ import annotations

import hashlib
import time
from decimal import Decimal

from django.conf import settings
from embit import bip32
from embit.networks import NETWORKS

from flashpay.accounts.models import Store
from invoices.selectors import checkout_link
from invoices.services.invoices import invoice_create
from invoices.services.store_payment_methods import store_payment_method_update

DEMO_AMOUNT_BTC = Decimal("0.0001")


def demo_wallet_vpub(*, store: Store) -> str:
    """A BIP84 test-network account key (vpub) derived from the store id: stable across reruns.

    Its private side is derivable by anyone who knows the store id, which is fine for regtest
    coins and nothing else; the command refuses mainnet.
    """
    seed = hashlib.sha256(f"flashpay-demo-wallet:{store.pk}".encode()).digest()
    account = bip32.HDKey.from_seed(seed).derive("m/84h/1h/0h").to_public()
    return account.to_string(version=NETWORKS["test"]["zpub"])


def demo_payment_setup(*, store: Store, wait_seconds: float = 0) -> list[str]:
    """Give the demo store BTC-CHAIN (demo vpub) and BTC-LN (internal node); returns lines to print.

    When both nodes answer (waiting up to ``wait_seconds`` for them, as `make run` starts the
    devnode alongside), also creates a demo invoice and prints its checkout link.
    """
    if settings.BITCOIN_NETWORK in ("main", "mainnet"):
        return ["  payments: skipped (BITCOIN_NETWORK is mainnet; the demo wallet is for test networks)"]
    store_payment_method_update(store=store, payment_method_id="BTC-CHAIN", enabled=True, config=demo_wallet_vpub(store=store))
    store_payment_method_update(
        store=store, payment_method_id="BTC-LN", enabled=True, config={"connectionString": "Internal Node"}
    )
    lines = ["  payments: BTC-CHAIN (demo regtest wallet) and BTC-LN (internal node)"]
    deadline = time.monotonic() + wait_seconds
    problem = _nodes_problem()
    while problem is not None and time.monotonic() < deadline:
        time.sleep(1)
        problem = _nodes_problem()
    if problem is not None:
        base = settings.FLASHPAY_BASE_URL.rstrip("/")
        lines += [
            f"  invoice:  not created ({problem}); start the devnode (`manage.py devnode`) and run",
            f"            curl -X POST -H 'Authorization: token <API key>' -H 'Content-Type: application/json' "
            f"-d '{{\"amount\": \"{DEMO_AMOUNT_BTC}\", \"currency\": \"BTC\"}}' {base}/api/v1/stores/{store.pk}/invoices",
        ]
        return lines
    invoice = invoice_create(
        store=store, amount=DEMO_AMOUNT_BTC, currency="BTC", metadata={"itemDesc": "Demo invoice"}, actor="seed_demo"
    )
    lines.append(f"  checkout: {checkout_link(invoice)}")
    return lines


def _nodes_problem() -> str | None:
    """None when bitcoind and the Lightning node both answer quickly, else what is wrong."""
    from invoices.onchain.clients import bitcoind_client_open
    from lightning.services import lightning_client_open

    try:
        client = bitcoind_client_open(timeout=3)
        try:
            client.get_blockchain_info()
            client.ensure_watch_only_wallet()
        finally:
            client.close()
    except Exception as exc:  # any failure means "not reachable now": the demo just says so
        return f"bitcoind not reachable: {type(exc).__name__}"
    try:
        backend = lightning_client_open(timeout=3)
        try:
            backend.node_info()
        finally:
            backend.close()
    except Exception as exc:
        return f"Lightning node not reachable: {type(exc).__name__}"
    return None
