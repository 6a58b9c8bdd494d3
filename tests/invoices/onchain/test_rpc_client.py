"""The bitcoind adapter's failure modes: unreachable node, bad credentials, RPC errors, malformed answers."""
import socket
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devnode.bitcoind import BitcoindSimulator
from invoices.onchain.rpc import (
    BitcoindClient,
    MalformedAnswer,
    NodeAuthError,
    NodeError,
    NodeRPCError,
    NodeUnavailable,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_node_is_node_unavailable():
    client = BitcoindClient(f"http://127.0.0.1:{_free_port()}", rpcuser="u", rpcpassword="p", timeout=2)

    with pytest.raises(NodeUnavailable, match="unreachable") as info:
        client.get_block_count()
    assert info.value.status_code == 503


def test_node_that_does_not_answer_in_time_is_node_unavailable():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the TCP connection, never answers
    try:
        client = BitcoindClient(f"http://127.0.0.1:{listener.getsockname()[1]}", rpcuser="u", rpcpassword="p", timeout=0.5)
        with pytest.raises(NodeUnavailable, match="did not answer in time"):
            client.get_block_count()
    finally:
        listener.close()


def test_wrong_password_is_an_auth_error_without_the_password_in_it(bitcoind):
    client = BitcoindClient(bitcoind.url, rpcuser=bitcoind.rpcuser, rpcpassword="wrong-secret")

    with pytest.raises(NodeAuthError) as info:
        client.get_block_count()
    assert "wrong-secret" not in str(info.value)
    assert "wrong-secret" not in repr(client)


def test_rpc_error_carries_bitcoinds_code(bitcoind_client):
    with pytest.raises(NodeRPCError) as info:
        bitcoind_client.get_block_hash(10_000)
    assert info.value.rpc_code == -8
    assert "out of range" in info.value.message

    with pytest.raises(NodeRPCError) as info:
        bitcoind_client.call("nosuchmethod")
    assert info.value.rpc_code == -32601


def test_cookie_auth_and_cookie_rewritten_by_a_node_restart(tmp_path):
    node = BitcoindSimulator(port=0, datadir=tmp_path / "node").start()
    try:
        client = BitcoindClient(node.url, cookie_file=node.cookie_path)
        assert client.get_block_count() == 0
        port = node.port
    finally:
        node.stop()
    # restarted on the same port and datadir: a new cookie, the client re-reads it on 401
    node = BitcoindSimulator(port=port, datadir=tmp_path / "node").start()
    try:
        assert client.get_block_count() == 0
    finally:
        node.stop()


def test_missing_cookie_file_is_node_unavailable(tmp_path):
    client = BitcoindClient("http://127.0.0.1:1", cookie_file=tmp_path / "nope" / ".cookie")
    with pytest.raises(NodeUnavailable, match="cookie"):
        client.get_block_count()


class _BadNode(BaseHTTPRequestHandler):
    """Answers every POST with a canned status and body."""

    status = 200
    body = b""

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def bad_node():
    servers = []

    def make(status: int, body: bytes) -> BitcoindClient:
        handler = type("H", (_BadNode,), {"status": status, "body": body})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return BitcoindClient(f"http://127.0.0.1:{server.server_address[1]}", rpcuser="u", rpcpassword="p", wallet="w", timeout=2)

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "status, body, call, error, message",
    [
        (200, b"<html>proxy error</html>", "get_block_count", MalformedAnswer, "not JSON"),
        (200, b'{"result": "12", "error": null, "id": 1}', "get_block_count", MalformedAnswer, "expected int"),
        (200, b'{"result": "zz", "error": null, "id": 1}', "get_best_block_hash", MalformedAnswer, "hash"),
        (200, b"[1, 2]", "get_block_count", MalformedAnswer, "not a JSON-RPC reply"),
        (200, b'{"result": {"transactions": [{"txid": 5}], "lastblock": "00"}, "error": null, "id": 1}',
         "list_since_block", MalformedAnswer, "listsinceblock"),
        (200, b'{"result": {"transactions": [], "removed": []}, "error": null, "id": 1}',
         "list_since_block", MalformedAnswer, "listsinceblock"),
        (500, b'{"result": null, "error": "boom", "id": 1}', "get_block_count", MalformedAnswer, "error object"),
        (502, b"Bad Gateway", "get_block_count", NodeError, "HTTP 502"),
        (403, b"", "get_block_count", NodeAuthError, "refused"),
    ],
)
def test_malformed_answers_get_clear_errors(bad_node, status, body, call, error, message):
    client = bad_node(status, body)
    args = {"list_since_block": (None,)}.get(call, ())

    with pytest.raises(error, match=message):
        getattr(client, call)(*args)


def test_no_fee_estimate_is_none(bad_node):
    client = bad_node(200, b'{"result": {"errors": ["Insufficient data or no feerate found"], "blocks": 0}, "error": null, "id": 1}')
    assert client.estimate_fee_sat_vb(6) is None


def test_confirmed_entry_without_block_hash_is_malformed(bad_node):
    entry = b'{"txid": "' + b"ab" * 32 + b'", "vout": 0, "category": "receive", "amount": 1, "confirmations": 2}'
    client = bad_node(200, b'{"result": {"transactions": [' + entry + b'], "removed": [], "lastblock": "' + b"cd" * 32 + b'"}, "error": null, "id": 1}')
    with pytest.raises(MalformedAnswer):
        client.list_since_block(None)


def test_amount_is_sent_exactly_and_floats_are_refused(bitcoind_miner, bitcoind_client):
    address = bitcoind_miner.get_new_address()
    txid = bitcoind_miner.send_to_address(address, Decimal("0.12345678"))
    decoded = bitcoind_miner.get_raw_transaction(txid, True)
    assert Decimal("0.12345678") in [out["value"] for out in decoded["vout"]]
    assert isinstance(decoded["vout"][0]["value"], Decimal)

    with pytest.raises(TypeError, match="float"):
        bitcoind_miner.send_to_address(address, 0.1)


def test_batch_returns_results_in_order_and_raises_the_first_error(bitcoind_client):
    count, best = bitcoind_client.batch([("getblockcount", ()), ("getbestblockhash", ())])
    assert count == 101
    assert best == bitcoind_client.get_block_hash(101)
    with pytest.raises(NodeRPCError):
        bitcoind_client.batch([("getblockcount", ()), ("getblockhash", (999,))])
