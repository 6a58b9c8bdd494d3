"""The bitcoind devnode over real sockets: JSON-RPC wire behaviour, chain, mempool, wallets, reorgs, persistence."""
import base64
import time
from decimal import Decimal

import httpx
import pytest
from embit import bip32, ec
from embit.descriptor import Descriptor
from embit.finalizer import finalize_psbt
from embit.networks import NETWORKS
from embit.psbt import PSBT
from embit.script import Script, address_to_scriptpubkey, p2pkh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from devnode.bitcoind import BitcoindSimulator
from devnode.chain import merkle_root, sha256d
from invoices.onchain.descriptors import descriptor_checksum
from invoices.onchain.rpc import BitcoindClient, NodeRPCError

ROOT = bip32.HDKey.from_seed(b"\x42" * 32, version=NETWORKS["test"]["xprv"])
ACCOUNT = ROOT.derive("m/84h/1h/0h")
WATCH_BODY = f"wpkh([{ROOT.my_fingerprint.hex()}/84h/1h/0h]{ACCOUNT.to_public().to_base58()}/0/*)"
WATCH_DESC = f"{WATCH_BODY}#{descriptor_checksum(WATCH_BODY)}"


def _raw(node, method, params=(), wallet=None, auth=True, body=None):
    url = node.url + (f"/wallet/{wallet}" if wallet else "")
    payload = body if body is not None else {"jsonrpc": "1.0", "id": "t", "method": method, "params": list(params)}
    return httpx.post(url, json=payload, auth=(node.rpcuser, node.rpcpassword) if auth else None, timeout=5)


def _watch(client):
    client.import_descriptors([{"desc": WATCH_DESC, "range": [0, 20], "timestamp": "now"}])
    return [Descriptor.from_string(WATCH_BODY).derive(i).address(NETWORKS["regtest"]) for i in range(3)]


# ------------------------------------------------------------------------------------ wire


def test_reply_shape_status_codes_and_auth(bitcoind):
    ok = _raw(bitcoind, "getblockcount")
    assert ok.status_code == 200
    assert ok.json() == {"result": 101, "error": None, "id": "t"}

    unknown = _raw(bitcoind, "nosuch")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {"code": -32601, "message": "Method not found"}

    failed = _raw(bitcoind, "getblockhash", [500])
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == -8

    assert _raw(bitcoind, "getblockcount", auth=False).status_code == 401
    assert httpx.post(bitcoind.url, content=b"{not json", auth=(bitcoind.rpcuser, bitcoind.rpcpassword)).json()["error"]["code"] == -32700
    assert httpx.get(bitcoind.url).status_code == 405


def test_batch_and_named_params(bitcoind):
    batch = _raw(bitcoind, None, body=[
        {"id": 1, "method": "getblockcount", "params": []},
        {"id": 2, "method": "getblockhash", "params": {"height": 0}},
        {"id": 3, "method": "getblockhash", "params": [9999]},
    ])
    assert batch.status_code == 200
    replies = {r["id"]: r for r in batch.json()}
    assert replies[1]["result"] == 101
    assert len(replies[2]["result"]) == 64
    assert replies[3]["error"]["code"] == -8


def test_wallet_endpoints(bitcoind):
    # two wallets loaded: a wallet call without /wallet/<name> is ambiguous (bitcoind's -19)
    assert _raw(bitcoind, "createwallet", ["watch", True, True]).json()["result"]["name"] == "watch"
    assert _raw(bitcoind, "getwalletinfo").json()["error"]["code"] == -19
    assert _raw(bitcoind, "getwalletinfo", wallet="nope").json()["error"]["code"] == -18
    info = _raw(bitcoind, "getwalletinfo", wallet="watch").json()["result"]
    assert (info["private_keys_enabled"], info["descriptors"], info["blank"]) == (False, True, True)
    assert _raw(bitcoind, "createwallet", ["watch", True, True]).json()["error"]["code"] == -4
    assert _raw(bitcoind, "loadwallet", ["watch"]).json()["error"]["code"] == -35
    assert _raw(bitcoind, "loadwallet", ["other"]).json()["error"]["code"] == -18
    assert _raw(bitcoind, "listwallets").json()["result"] == ["devnode", "watch"]
    assert _raw(bitcoind, "getnewaddress", wallet="watch").json()["error"]["code"] == -4


# ------------------------------------------------------------------------------------ chain


def test_blocks_are_real_serializations(bitcoind_client):
    info = bitcoind_client.get_blockchain_info()
    assert (info["chain"], info["blocks"]) == ("regtest", 101)
    best = bitcoind_client.get_best_block_hash()
    assert best == info["bestblockhash"] == bitcoind_client.get_block_hash(101)

    block = bitcoind_client.get_block(best, 1)
    header = bitcoind_client.get_block_header(best)
    raw = bytes.fromhex(bitcoind_client.get_block(best, 0))
    assert sha256d(raw[:80])[::-1].hex() == best  # the hash is sha256d of the 80-byte header
    assert int.from_bytes(sha256d(raw[:80]), "little") <= 0x7FFFFF << (8 * (0x20 - 3))  # regtest target
    assert block["merkleroot"] == merkle_root(block["tx"]) == header["merkleroot"]
    assert raw[36:68][::-1].hex() == block["merkleroot"]
    assert block["previousblockhash"] == bitcoind_client.get_block_hash(100)
    assert header["height"] == 101 and header["confirmations"] == 1

    coinbase = bitcoind_client.get_raw_transaction(block["tx"][0], True)
    tx = Transaction.parse(bytes.fromhex(coinbase["hex"]))
    assert tx.txid().hex() == block["tx"][0]
    assert coinbase["vout"][0]["value"] == Decimal("50.00000000")
    assert coinbase["confirmations"] == 1 and coinbase["blockhash"] == best

    verbose = bitcoind_client.get_block(best, 2)
    assert verbose["tx"][0]["txid"] == block["tx"][0]


def test_estimatesmartfee(bitcoind_client):
    fast = bitcoind_client.estimate_fee_sat_vb(1)
    slow = bitcoind_client.estimate_fee_sat_vb(144)
    assert fast > slow > 0
    with pytest.raises(NodeRPCError) as info:
        bitcoind_client.estimate_fee_sat_vb(0)
    assert info.value.rpc_code == -8


def test_sendtoaddress_signs_for_real_and_pays_any_regtest_address(bitcoind_miner):
    targets = ["bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx", "2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br",
               "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"]
    for address in targets:
        txid = bitcoind_miner.send_to_address(address, Decimal("1"))
        decoded = bitcoind_miner.get_raw_transaction(txid, True)
        assert address in [o["scriptPubKey"].get("address") for o in decoded["vout"]]

    # the hot wallet's signature verifies (BIP143)
    tx = Transaction.parse(bytes.fromhex(bitcoind_miner.get_raw_transaction(txid)))
    spent = bitcoind_miner.get_raw_transaction(tx.vin[0].txid.hex(), True)["vout"][tx.vin[0].vout]
    sig, sec = tx.vin[0].witness.items
    pub = ec.PublicKey.parse(sec)
    sighash = tx.sighash_segwit(0, p2pkh(pub), int(spent["value"] * 100_000_000))
    assert pub.verify(ec.Signature.parse(sig[:-1]), sighash)

    assert txid in bitcoind_miner.call("getrawmempool")
    with pytest.raises(NodeRPCError) as info:
        bitcoind_miner.send_to_address("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", Decimal("1"))  # mainnet
    assert info.value.rpc_code == -5
    with pytest.raises(NodeRPCError) as info:
        bitcoind_miner.send_to_address(targets[0], Decimal("1000"))
    assert info.value.rpc_code == -6


def test_coinbase_matures_after_100_blocks(bitcoind_miner):
    # 101 blocks: only the first coinbase is spendable, like bitcoind
    assert bitcoind_miner.call("getbalance", wallet=True) == Decimal("50.00000000")
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    assert bitcoind_miner.call("getbalance", wallet=True) == Decimal("100.00000000")


def test_sendrawtransaction_accepts_rejects_and_is_idempotent(bitcoind_miner):
    address = bitcoind_miner.get_new_address()
    txid = bitcoind_miner.send_to_address(address, Decimal("0.5"))
    raw = bitcoind_miner.get_raw_transaction(txid)
    assert bitcoind_miner.send_raw_transaction(raw) == txid  # already in the mempool: same txid

    bitcoind_miner.generate_to_address(1, address)
    assert bitcoind_miner.send_raw_transaction(raw) == txid  # already in the chain: adapter says sent
    with pytest.raises(NodeRPCError) as info:
        bitcoind_miner.call("sendrawtransaction", raw)
    assert info.value.rpc_code == -27

    # a different transaction spending the same, now confirmed, input is a double spend
    tx = Transaction.parse(bytes.fromhex(raw))
    tx.vout[0].value -= 1000
    with pytest.raises(NodeRPCError) as info:
        bitcoind_miner.send_raw_transaction(tx.serialize().hex())
    assert (info.value.rpc_code, info.value.rpc_message) == (-25, "bad-txns-inputs-missingorspent")
    with pytest.raises(NodeRPCError) as info:
        bitcoind_miner.send_raw_transaction("00ff")
    assert info.value.rpc_code == -22


# ------------------------------------------------------------------------------------ watch-only wallet


def test_descriptor_rpcs(bitcoind_client):
    info = bitcoind_client.get_descriptor_info(WATCH_BODY)
    assert info["descriptor"] == WATCH_DESC and info["isrange"] and not info["hasprivatekeys"]
    derived = bitcoind_client.derive_addresses(WATCH_DESC, 0, 2)
    assert derived == [Descriptor.from_string(WATCH_BODY).derive(i).address(NETWORKS["regtest"]) for i in range(3)]

    with pytest.raises(NodeRPCError, match="Missing checksum"):
        bitcoind_client.derive_addresses(WATCH_BODY, 0, 1)
    with pytest.raises(NodeRPCError, match="does not match"):
        bitcoind_client.get_descriptor_info(WATCH_BODY + "#aaaaaaaa")
    mainnet = ROOT.derive("m/84h/0h/0h").to_public().to_string(version=NETWORKS["main"]["xpub"])
    with pytest.raises(NodeRPCError, match="network"):
        bitcoind_client.get_descriptor_info(f"wpkh({mainnet}/0/*)")


def test_importdescriptors_refuses_bad_requests(bitcoind_client):
    private_body = f"wpkh({ACCOUNT.to_base58()}/0/*)"
    with pytest.raises(NodeRPCError, match="private keys disabled"):
        bitcoind_client.import_descriptors([{"desc": f"{private_body}#{descriptor_checksum(private_body)}", "timestamp": "now"}])
    with pytest.raises(NodeRPCError, match="Missing checksum"):
        bitcoind_client.import_descriptors([{"desc": WATCH_BODY, "timestamp": "now"}])
    bitcoind_client.import_descriptors([{"desc": WATCH_DESC, "range": [0, 50], "timestamp": "now"}])
    with pytest.raises(NodeRPCError, match="must include current range"):
        bitcoind_client.import_descriptors([{"desc": WATCH_DESC, "range": [0, 10], "timestamp": "now"}])


def test_listsinceblock_receive_confirm_and_removed(bitcoind_client, bitcoind_miner):
    addresses = _watch(bitcoind_client)
    start = bitcoind_client.get_best_block_hash()
    txid = bitcoind_miner.send_to_address(addresses[1], Decimal("0.25"))

    pending = bitcoind_client.list_since_block(start)
    assert [(t.txid, t.address, t.category, t.amount_msat, t.confirmations) for t in pending.transactions] == [
        (txid, addresses[1], "receive", 25_000_000_000, 0)
    ]
    assert pending.lastblock == start

    block = bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())[0]
    mined = bitcoind_client.list_since_block(start)
    assert (mined.transactions[0].confirmations, mined.transactions[0].block_hash, mined.lastblock) == (1, block, block)
    assert bitcoind_client.list_since_block(block).transactions == []  # nothing new since the tip
    assert bitcoind_client.get_transaction(txid)["confirmations"] == 1

    # reorg: the block is gone, the tx is listed as removed and is back in the mempool
    bitcoind_client.invalidate_block(block)
    after = bitcoind_client.list_since_block(block)
    assert [t.txid for t in after.removed] == [txid]
    assert [(t.txid, t.confirmations) for t in after.transactions] == [(txid, 0)]
    assert after.lastblock == start

    # reconsiderblock brings the longer branch back
    bitcoind_client.call("reconsiderblock", block)
    assert bitcoind_client.get_best_block_hash() == block
    assert bitcoind_client.get_transaction(txid)["confirmations"] == 1


def test_dropped_transaction_is_reported_as_conflicted(bitcoind_client, bitcoind_miner):
    addresses = _watch(bitcoind_client)
    start = bitcoind_client.get_best_block_hash()
    txid = bitcoind_miner.send_to_address(addresses[0], Decimal("0.01"))

    assert bitcoind_miner.call("dropmempooltx", txid) == [txid]

    assert txid not in bitcoind_client.call("getrawmempool")
    listed = bitcoind_client.list_since_block(start)
    assert [(t.txid, t.confirmations) for t in listed.transactions] == [(txid, -1)]
    assert bitcoind_client.get_transaction(txid)["confirmations"] == -1
    # rebroadcast: accepted again, no longer conflicted
    bitcoind_client.send_raw_transaction(bitcoind_client.get_transaction(txid)["hex"])
    assert bitcoind_client.get_transaction(txid)["confirmations"] == 0


def _spend(outpoint_txid: str, vout: int, pays: list[tuple[str, int]]) -> str:
    """A raw transaction spending one outpoint (the devnode does not check scripts)."""
    outputs = [TransactionOutput(value, Script(address_to_scriptpubkey(address).data)) for address, value in pays]
    return Transaction(vin=[TransactionInput(bytes.fromhex(outpoint_txid), vout)], vout=outputs).serialize().hex()


def test_replace_by_fee_evicts_the_conflict_when_it_pays_more(bitcoind_client, bitcoind_miner):
    addresses = _watch(bitcoind_client)
    start = bitcoind_client.get_best_block_hash()
    elsewhere = bitcoind_miner.get_new_address()
    # a coin of the hot wallet: 50 BTC coinbase of block 1
    coinbase = bitcoind_miner.get_block(bitcoind_miner.get_block_hash(1))["tx"][0]

    first = bitcoind_miner.send_raw_transaction(_spend(coinbase, 0, [(addresses[0], 49_000_000_00)]))
    with pytest.raises(NodeRPCError) as info:  # pays less fee than the original: refused
        bitcoind_miner.send_raw_transaction(_spend(coinbase, 0, [(elsewhere, 49_500_000_00)]))
    assert (info.value.rpc_code, info.value.rpc_message.startswith("insufficient fee")) == (-26, True)

    second = bitcoind_miner.send_raw_transaction(_spend(coinbase, 0, [(elsewhere, 48_000_000_00)]))

    mempool = bitcoind_miner.call("getrawmempool")
    assert second in mempool and first not in mempool
    listed = bitcoind_client.list_since_block(start)
    assert [(t.txid, t.confirmations) for t in listed.transactions] == [(first, -1)]


def test_invalidateblock_drops_spends_of_reorged_coinbases(bitcoind_miner):
    address = bitcoind_miner.get_new_address()
    bitcoind_miner.generate_to_address(1, address)
    # 100 BTC are mature (coinbases of blocks 1 and 2); spending 99 needs both
    txid = bitcoind_miner.send_to_address(address, Decimal("99"))
    tip_before = bitcoind_miner.get_block_count()

    # reorg out block 2 and everything above: its coinbase no longer exists, so neither does the spend
    bitcoind_miner.invalidate_block(bitcoind_miner.get_block_hash(2))

    assert bitcoind_miner.get_block_count() == 1 < tip_before
    assert txid not in bitcoind_miner.call("getrawmempool")
    with pytest.raises(NodeRPCError):
        bitcoind_miner.get_raw_transaction(txid)


def test_walletcreatefundedpsbt_from_a_watch_only_wallet(bitcoind_client, bitcoind_miner):
    addresses = _watch(bitcoind_client)
    bitcoind_miner.send_to_address(addresses[0], Decimal("0.3"))
    bitcoind_miner.generate_to_address(1, bitcoind_miner.get_new_address())
    payee = bitcoind_miner.get_new_address()

    funded = bitcoind_client.wallet_create_funded_psbt(
        [{payee: Decimal("0.1")}], fee_rate_sat_vb=3, change_address=addresses[2]
    )

    psbt = PSBT.from_string(funded["psbt"])
    assert psbt.inputs[0].witness_utxo.value == 30_000_000
    (derivation,) = psbt.inputs[0].bip32_derivations.values()
    assert derivation.fingerprint == ROOT.my_fingerprint and len(derivation.derivation) == 5
    assert funded["fee"] > 0 and funded["changepos"] == 1
    assert sum(o.value for o in psbt.tx.vout) + int(funded["fee"] * 100_000_000) == 30_000_000

    # the hardware wallet (here the root key) signs; the node accepts the result
    psbt.sign_with(ROOT)
    signed = finalize_psbt(psbt)
    txid = bitcoind_client.send_raw_transaction(signed.serialize().hex())
    assert txid in bitcoind_client.call("getrawmempool")

    with pytest.raises(NodeRPCError) as info:
        bitcoind_client.wallet_create_funded_psbt([{payee: Decimal("5")}])
    assert info.value.rpc_code == -6


def test_listunspent_and_balance_of_the_watch_only_wallet(bitcoind_client, bitcoind_miner):
    addresses = _watch(bitcoind_client)
    bitcoind_miner.send_to_address(addresses[0], Decimal("0.07"))
    assert bitcoind_client.call("listunspent", 1, wallet=True) == []
    (coin,) = bitcoind_client.call("listunspent", 0, wallet=True)
    assert (coin["address"], coin["amount"], coin["spendable"]) == (addresses[0], Decimal("0.07000000"), False)


# ------------------------------------------------------------------------------------ lifecycle


def test_state_survives_a_restart_with_a_datadir(tmp_path):
    node = BitcoindSimulator(port=0, datadir=tmp_path, premine_blocks=101).start()
    client = BitcoindClient(node.url, cookie_file=node.cookie_path, wallet="devnode")
    watch = BitcoindClient(node.url, cookie_file=node.cookie_path, wallet="watch")
    watch.ensure_watch_only_wallet()
    addresses = _watch(watch)
    txid = client.send_to_address(addresses[2], Decimal("2"))
    tip = client.get_best_block_hash()
    node.stop()

    node = BitcoindSimulator(port=0, datadir=tmp_path, premine_blocks=101).start()
    client = BitcoindClient(node.url, cookie_file=node.cookie_path, wallet="devnode")
    watch = BitcoindClient(node.url, cookie_file=node.cookie_path, wallet="watch")
    try:
        assert client.get_best_block_hash() == tip
        assert txid in client.call("getrawmempool")
        assert client.get_transaction(txid)["confirmations"] == 0
        block = client.generate_to_address(1, client.get_new_address())[0]
        assert client.get_block(block)["tx"][1] == txid
        # the watch-only wallet and its imported range came back too
        assert watch.ensure_watch_only_wallet() is False
        (entry,) = watch.list_since_block(tip).transactions
        assert (entry.txid, entry.address, entry.confirmations) == (txid, addresses[2], 1)
    finally:
        node.stop()


def test_cookie_file_is_private_and_removed_on_stop(tmp_path):
    node = BitcoindSimulator(port=0, datadir=tmp_path).start()
    cookie = node.cookie_path
    assert cookie.read_text().startswith("__cookie__:")
    assert cookie.stat().st_mode & 0o777 == 0o600
    header = "Basic " + base64.b64encode(cookie.read_bytes()).decode()
    assert httpx.post(node.url, json={"method": "getblockcount", "id": 1}, headers={"Authorization": header}).json()["result"] == 0
    node.stop()
    assert not cookie.exists()


def test_auto_mining(tmp_path):
    node = BitcoindSimulator(port=0, rpcuser="u", rpcpassword="p", auto_mine_seconds=0.05).start()
    try:
        client = BitcoindClient(node.url, rpcuser="u", rpcpassword="p")
        deadline = time.monotonic() + 5
        while client.get_block_count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get_block_count() >= 3
        assert node.block_count >= 3  # the same chain, read in-process
    finally:
        node.stop()


class _CountingDict(dict):
    """A dict that counts whole-table walks (the simulator must never do one per block)."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()

    def keys(self):
        type(self).walks += 1
        return super().keys()

    def values(self):
        type(self).walks += 1
        return super().values()

    def items(self):
        type(self).walks += 1
        return super().items()


def test_block_cost_follows_transactions_not_watched_addresses(bitcoind, bitcoind_miner):
    """Mining a block and listing it never walks the watched scripts: each output is one lookup.

    Counted, not timed (bench/detect.py times it): with 10 or 5,000 watched addresses the blocks
    touch the script tables the same way, and no call walks a whole table.
    """

    def per_blocks(range_end: int, wallet: str) -> int:
        client = BitcoindClient(bitcoind.url, rpcuser=bitcoind.rpcuser, rpcpassword=bitcoind.rpcpassword, wallet=wallet)
        client.ensure_watch_only_wallet()
        body = f"wpkh({ROOT.derive(f'm/84h/1h/{range_end}h').to_public().to_base58()}/0/*)"
        client.import_descriptors([{"desc": f"{body}#{descriptor_checksum(body)}", "range": [0, range_end], "timestamp": "now"}])
        address = Descriptor.from_string(body).derive(3).address(NETWORKS["regtest"])
        # Walks from here on are the blocks' own.
        bitcoind.script_index = _CountingDict(bitcoind.script_index)
        for each in bitcoind.wallets.values():
            each.scripts = _CountingDict(each.scripts)
        _CountingDict.walks = 0
        since = client.get_best_block_hash()
        for _ in range(5):
            bitcoind_miner.send_to_address(address, Decimal("0.001"))
            since = client.list_since_block(since).lastblock
            bitcoind_miner.generate_to_address(1, address)
            since = client.list_since_block(since).lastblock
        assert len(bitcoind.wallets[wallet].scripts) > range_end  # the addresses are watched
        return _CountingDict.walks

    assert per_blocks(10, "small") == 0
    assert per_blocks(5_000, "large") == 0


@pytest.mark.parametrize("template", ["wpkh({x}/0/*)", "sh(wpkh({x}/1/*))", "tr({x}/0/*)", "wpkh([aabbccdd/84h/1h/0h]{x}/*)",
                                      "wsh(sortedmulti(1,{x}/0/*,{y}/0/*))", "pkh({x}/0/*)"])
def test_fast_range_derivation_matches_full_derivation(template):
    from devnode.bitcoind import _derive_scripts

    other = bip32.HDKey.from_seed(b"\x43" * 32, version=NETWORKS["test"]["xprv"]).derive("m/48h/1h/0h/2h")
    desc = Descriptor.from_string(template.format(x=ACCOUNT.to_public().to_base58(), y=other.to_public().to_base58()))

    assert _derive_scripts(desc, 5, 9) == [(desc.derive(i).script_pubkey().data.hex(), i) for i in range(5, 10)]


def test_reorg_drops_mempool_spends_of_coinbases_no_longer_mature(bitcoind_miner):
    address = bitcoind_miner.get_new_address()
    bitcoind_miner.generate_to_address(1, address)  # 102 blocks: coinbases of blocks 1 and 2 spendable
    txid = bitcoind_miner.send_to_address(address, Decimal("99"))  # needs both

    bitcoind_miner.invalidate_block(bitcoind_miner.get_block_hash(102))
    assert txid in bitcoind_miner.call("getrawmempool")  # block 2's coinbase is still 100 deep for the next block

    bitcoind_miner.invalidate_block(bitcoind_miner.get_block_hash(101))
    assert txid not in bitcoind_miner.call("getrawmempool")


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    (tmp_path / "bitcoind-state.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="corrupt; delete it"):
        BitcoindSimulator(port=0, datadir=tmp_path).start()
