"""On-chain merchant settlement from a hot wallet (bitcoind sendtoaddress on the devnode): reserved
first, txid recorded, paid once confirmed; refusals fail the batch; a lost answer is reconciled."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.utils import timezone

from cards.models import CardPayment, SettlementBatch
from cards.services.settlement import (
    settlement_batches_onchain_reconcile,
    settlement_run,
    settlement_schedule_set,
)
from devnode.bitcoind import HOT_WALLET
from flashpay.events.services import event_deliveries_run
from flashpay.ledger.selectors import account_balance, account_get
from invoices.onchain.rpc import BitcoindClient
from tests.invoices.factories import make_invoice

from .factories import fund_card, make_programmed_card
from .test_settlement import merchant_posted, pay_invoice_with_card, shop  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

SAT = 1000
# BIP173's P2WPKH test vector on regtest: an address outside every devnode wallet.
MERCHANT_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


class LossyProxy:
    """A JSON-RPC hop in front of bitcoind that can lose one sendtoaddress: after bitcoind did it
    ("answer") or before it reached bitcoind ("request")."""

    def __init__(self, target: str):
        self.target = target
        self.lose: str | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                losing = b'"sendtoaddress"' in body and proxy.lose
                if losing == "request":
                    proxy.lose = None
                    self.close_connection = True
                    return
                answer = httpx.post(
                    proxy.target + self.path, content=body,
                    headers={"Authorization": self.headers["Authorization"], "Content-Type": "application/json"},
                )
                if losing == "answer":
                    proxy.lose = None
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hot_wallet(settings, bitcoind):
    proxy = LossyProxy(bitcoind.url)
    settings.BITCOIND_URL = proxy.url
    settings.BITCOIND_RPCUSER = bitcoind.rpcuser
    settings.BITCOIND_RPCPASSWORD = bitcoind.rpcpassword
    settings.CARD_SETTLEMENT_HOT_WALLET = HOT_WALLET
    yield proxy
    proxy.close()


@pytest.fixture
def miner(bitcoind):
    client = BitcoindClient(bitcoind.url, rpcuser=bitcoind.rpcuser, rpcpassword=bitcoind.rpcpassword, wallet=HOT_WALLET, timeout=5)
    yield client
    client.close()


def _earned(shop, sats=2_000):  # noqa: F811 - the fixture
    card = make_programmed_card()
    fund_card(card, 10_000 * SAT)
    assert pay_invoice_with_card(card, 1, make_invoice(store=shop, amount=f"{sats / 10**8:.8f}", currency="BTC")).json()["status"] == "OK"
    event_deliveries_run()


def _hot_wallet_posted():
    return account_balance(account=account_get(kind="node", reference=f"bitcoind-wallet:{HOT_WALLET}")).posted.value


def _paid_to_merchant(miner, txid):
    return [d for d in miner.get_transaction(txid)["details"] if d["category"] == "send" and d["address"] == MERCHANT_ADDRESS]


def test_hot_wallet_pays_the_batch_and_it_is_paid_once_confirmed(shop, hot_wallet, miner):  # noqa: F811
    _earned(shop)
    settlement_schedule_set(store_id=shop.id, destination_type="onchain", destination=MERCHANT_ADDRESS, fee_ppm=10_000)
    # when: the day's settlement runs
    [batch] = settlement_run()
    # then: reserved, sent from the hot wallet, not yet paid (unconfirmed)
    assert batch.status == SettlementBatch.Status.PAYING and len(batch.txid) == 64
    assert account_balance(account=account_get(kind="merchant", reference=shop.id)).available.value == 0
    [sent] = _paid_to_merchant(miner, batch.txid)
    assert str(sent["amount"]) == "-0.00001980"  # 2 000 sat less the 1 % fee
    assert settlement_run() == []  # still unconfirmed: nothing new, nothing paid twice
    # when: a block confirms it
    miner.generate_to_address(1, miner.get_new_address())
    settlement_run()
    batch.refresh_from_db()
    assert batch.status == SettlementBatch.Status.PAID and batch.paid_at is not None
    assert merchant_posted(shop) == 0
    assert _hot_wallet_posted() == 1_980 * SAT
    assert len(_paid_to_merchant(miner, batch.txid)) == 1


def test_a_refused_payout_fails_the_batch_and_gives_the_money_back(shop, hot_wallet, miner):  # noqa: F811
    _earned(shop)
    # a mainnet address: accepted as an address, refused by a regtest bitcoind
    settlement_schedule_set(store_id=shop.id, destination_type="onchain", destination="bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.FAILED and "refused" in batch.failure_reason
    assert batch.txid == ""
    assert account_balance(account=account_get(kind="merchant", reference=shop.id)).available.value == 2_000 * SAT
    assert CardPayment.objects.filter(settlement_batch__isnull=False).count() == 0


def test_a_lost_answer_stays_paying_then_the_send_is_found_in_the_wallet(shop, hot_wallet, miner):  # noqa: F811
    _earned(shop)
    settlement_schedule_set(store_id=shop.id, destination_type="onchain", destination=MERCHANT_ADDRESS)
    hot_wallet.lose = "answer"  # bitcoind sends, we never hear the txid
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.PAYING and batch.txid == ""
    # soon after, nothing is decided (bitcoind may still be working on it)
    assert settlement_batches_onchain_reconcile() == 0
    miner.generate_to_address(1, miner.get_new_address())
    # later: the send is found in the hot wallet, it is confirmed, the batch is paid, once
    later = timezone.now() + timedelta(minutes=11)
    assert settlement_batches_onchain_reconcile(now=later) == 1
    batch.refresh_from_db()
    assert batch.status == SettlementBatch.Status.PAID and len(batch.txid) == 64
    assert len(_paid_to_merchant(miner, batch.txid)) == 1
    assert _hot_wallet_posted() == 2_000 * SAT
    assert settlement_batches_onchain_reconcile(now=later) == 0


def test_a_send_that_never_reached_bitcoind_fails_after_the_wait(shop, hot_wallet, miner):  # noqa: F811
    _earned(shop)
    settlement_schedule_set(store_id=shop.id, destination_type="onchain", destination=MERCHANT_ADDRESS)
    hot_wallet.lose = "request"
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.PAYING and batch.txid == ""
    assert settlement_batches_onchain_reconcile(now=timezone.now() + timedelta(minutes=11)) == 1
    batch.refresh_from_db()
    assert batch.status == SettlementBatch.Status.FAILED and "never sent" in batch.failure_reason
    assert account_balance(account=account_get(kind="merchant", reference=shop.id)).available.value == 2_000 * SAT


def test_without_a_hot_wallet_on_chain_batches_wait_for_an_operator(shop, settings):  # noqa: F811
    settings.CARD_SETTLEMENT_HOT_WALLET = ""
    _earned(shop)
    settlement_schedule_set(store_id=shop.id, destination_type="onchain", destination=MERCHANT_ADDRESS)
    [batch] = settlement_run()
    assert batch.status == SettlementBatch.Status.AWAITING_MANUAL and batch.txid == ""
