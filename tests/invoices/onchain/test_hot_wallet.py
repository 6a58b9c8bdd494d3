"""Hot-wallet sends through the on-chain package's public services and selectors (devnode bitcoind)."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from invoices.onchain.rpc import BitcoindClient
from invoices.onchain.selectors import (
    onchain_hot_wallet_send_find,
    onchain_hot_wallet_tip,
    onchain_hot_wallet_transaction_get,
)
from invoices.onchain.services import HotWalletRefused, OnchainNodeError, onchain_hot_wallet_send

# BIP173's P2WPKH test vector on regtest: an address outside every devnode wallet.
PAYEE = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def test_a_send_is_found_again_and_confirms_with_its_fee(bitcoind_miner):
    tip = onchain_hot_wallet_tip(client=bitcoind_miner)

    txid = onchain_hot_wallet_send(client=bitcoind_miner, address=PAYEE, amount_sat=12_345)

    # a lost answer: the send is found by address and exact amount since the tip it started at
    assert onchain_hot_wallet_send_find(client=bitcoind_miner, since_block=tip, address=PAYEE, amount_sat=12_345) == txid
    assert onchain_hot_wallet_send_find(client=bitcoind_miner, since_block=tip, address=PAYEE, amount_sat=12_346) is None
    assert (
        onchain_hot_wallet_send_find(
            client=bitcoind_miner, since_block=tip, address=PAYEE, amount_sat=12_345, excluding={txid}
        )
        is None
    )
    assert onchain_hot_wallet_transaction_get(client=bitcoind_miner, txid=txid).confirmations == 0
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    confirmed = onchain_hot_wallet_transaction_get(client=bitcoind_miner, txid=txid)
    assert confirmed.confirmations == 1
    assert confirmed.fee_msat == 0  # the devnode reports no fee; bitcoind's is read below


def test_a_refused_send_says_why_and_sends_nothing(bitcoind_miner):
    tip = onchain_hot_wallet_tip(client=bitcoind_miner)
    mainnet = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"

    with pytest.raises(HotWalletRefused) as refused:
        onchain_hot_wallet_send(client=bitcoind_miner, address=mainnet, amount_sat=1_000)
    with pytest.raises(HotWalletRefused):
        onchain_hot_wallet_send(client=bitcoind_miner, address=PAYEE, amount_sat=0)

    assert refused.value.reason
    assert bitcoind_miner.list_since_block(tip).transactions == []


def test_an_unreachable_node_is_an_onchain_node_error():
    client = BitcoindClient("http://127.0.0.1:1", rpcuser="u", rpcpassword="p", timeout=2)
    with pytest.raises(OnchainNodeError):
        onchain_hot_wallet_send(client=client, address=PAYEE, amount_sat=1_000)
    client.close()


@pytest.mark.parametrize(
    "fields, confirmations, fee_msat",
    [
        ('"confirmations": 3, "fee": -0.00000141', 3, 141_000),
        ('"confirmations": -1, "fee": -0.00001000', -1, 1_000_000),
        ('"confirmations": 0', 0, 0),
        ('"fee": -0.00000141', None, 141_000),
    ],
)
def test_depth_and_fee_as_bitcoind_reports_them(fields, confirmations, fee_msat):
    """bitcoind's gettransaction of a wallet send: fee in negative BTC, negative depth when conflicted."""
    body = ('{"result": {"txid": "' + "ab" * 32 + '", ' + fields + '}, "error": null, "id": 1}').encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = BitcoindClient(f"http://127.0.0.1:{server.server_port}", rpcuser="u", rpcpassword="p", wallet="hot")
    try:
        tx = onchain_hot_wallet_transaction_get(client=client, txid="ab" * 32)
    finally:
        client.close()
        server.shutdown()
        server.server_close()

    assert (tx.confirmations, tx.fee_msat) == (confirmations, fee_msat)
