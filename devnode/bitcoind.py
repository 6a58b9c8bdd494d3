"""A regtest bitcoind simulator speaking bitcoind's JSON-RPC over HTTP, for development and tests only.

What it implements is what FlashPay's adapters call plus the regtest tools of a developer:
chain queries (getblockchaininfo, getblockcount, getbestblockhash, getblockhash, getblock,
getblockheader, getrawtransaction, estimatesmartfee), the mempool (sendrawtransaction,
getrawmempool), mining (generatetoaddress, optional timer), reorgs (invalidateblock,
reconsiderblock) and wallets (createwallet, loadwallet, listwallets, importdescriptors,
getdescriptorinfo, deriveaddresses, listsinceblock, gettransaction, listunspent, getnewaddress,
sendtoaddress, walletcreatefundedpsbt, getwalletinfo, getbalance).

Wire behaviour follows bitcoind (src/httprpc.cpp, src/rpc/request.cpp): HTTP basic auth (user/password
or the ``__cookie__`` file), JSON-RPC 1.0 replies ``{"result", "error", "id"}``, HTTP 500 for an
error reply to a single request (404 for an unknown method), 200 for batches, ``/wallet/<name>``
endpoints, and bitcoind's numeric error codes (src/rpc/protocol.h).

Blocks, transactions and hashes are real serializations (sha256d txids, mined headers meeting
regtest's target); scripts and signatures are not validated on ``sendrawtransaction``, which
replaces conflicting mempool transactions that pay less fee (full RBF, as bitcoind 28+). The one
wallet that holds private keys is ``devnode`` (created at start): mining rewards and
``sendtoaddress`` come from it, signed for real (BIP143). With ``zmq_port`` it also publishes bitcoind's
ZMQ ``hashblock`` and ``rawtx`` notifications. A devnode-only RPC, ``dropmempooltx``,
evicts a transaction from the mempool, which is what a successful double spend looks like to a
watcher.

Cost per block and per ``listsinceblock`` follows the number of transactions, not the number of
watched addresses: every watched scriptPubKey is one entry of a dict from script to wallets.
"""
from __future__ import annotations

import base64
import hmac
import inspect
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from embit import bip32, ec
from embit.descriptor import Descriptor
from embit.descriptor.checksum import checksum as descriptor_checksum
from embit.networks import NETWORKS
from embit.psbt import PSBT, DerivationPath
from embit.script import Script, Witness, address_to_scriptpubkey, p2pkh, p2sh, p2tr, p2wpkh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from devnode import chain

logger = logging.getLogger(__name__)

REGTEST = NETWORKS["regtest"]
HOT_WALLET = "devnode"
DEFAULT_KEYPOOL_RANGE = 999  # bitcoind's default range end for ranged descriptors: [0, 999]

# src/rpc/protocol.h
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_WALLET_ERROR = -4
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_WALLET_INSUFFICIENT_FUNDS = -6
RPC_INVALID_PARAMETER = -8
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_NOT_SPECIFIED = -19
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_CHAIN = -27
RPC_WALLET_ALREADY_LOADED = -35
RPC_WALLET_ALREADY_EXISTS = -36
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_PARSE_ERROR = -32700


class RPCError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _script_address(script_hex: str) -> str | None:
    try:
        return Script(bytes.fromhex(script_hex)).address(REGTEST)
    except Exception:
        return None


def _script_type(script: bytes) -> str:
    if len(script) == 22 and script[:2] == b"\x00\x14":
        return "witness_v0_keyhash"
    if len(script) == 34 and script[:2] == b"\x00\x20":
        return "witness_v0_scripthash"
    if len(script) == 34 and script[:2] == b"\x51\x20":
        return "witness_v1_taproot"
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[-1:] == b"\x87":
        return "scripthash"
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14":
        return "pubkeyhash"
    return "nonstandard"


def _regtest_script(address) -> bytes:
    """scriptPubKey for a regtest address (bcrt1..., 2..., m.../n...), else RPC_INVALID_ADDRESS_OR_KEY."""
    if not isinstance(address, str):
        raise RPCError(RPC_TYPE_ERROR, "Address must be a string")
    try:
        script = address_to_scriptpubkey(address)
        if script.address(REGTEST) not in (address, address.lower()):
            raise ValueError
    except Exception:
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid address: {address}") from None
    return script.data


class _Wallet:
    def __init__(self, name: str, *, private_keys: bool, blank: bool, seed: str | None = None):
        self.name = name
        self.private_keys = private_keys
        self.blank = blank
        # body (no checksum) -> {"desc", "range": [a, b] | None, "next": int, "active", "internal", "derived": int}
        self.descriptors: dict[str, dict] = {}
        self.scripts: dict[str, tuple[str, int | None]] = {}  # script hex -> (descriptor body, index)
        self.txids: dict[str, int] = {}  # wallet transactions -> time first seen (insertion ordered)
        self.outpoints: set[tuple[str, int]] = set()  # outputs paying the wallet ever seen
        self.seed = seed
        self.root: bip32.HDKey | None = None
        self.keys: dict[str, ec.PrivateKey] = {}  # hot wallet: script hex -> key
        if private_keys:
            self.seed = seed or secrets.token_hex(32)
            self.root = bip32.HDKey.from_seed(bytes.fromhex(self.seed), version=REGTEST["xprv"])

    def state(self) -> dict:
        return {
            "name": self.name,
            "private_keys": self.private_keys,
            "blank": self.blank,
            "seed": self.seed,
            "descriptors": [
                {k: v for k, v in d.items() if k != "derived"} for d in self.descriptors.values()
            ],
        }


class BitcoindSimulator:
    """A regtest bitcoind on loopback. ``start()`` returns at once; the server runs in a thread.

    ``port=0`` picks a free port. ``datadir=None`` keeps state in memory; otherwise the state is a
    JSON file in ``datadir`` (rewritten after each change) and the cookie lives there too. Without
    ``rpcuser``/``rpcpassword`` the node uses cookie auth (``.cookie_path``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 18443,
        datadir: str | os.PathLike | None = None,
        rpcuser: str | None = None,
        rpcpassword: str | None = None,
        auto_mine_seconds: float | None = None,
        zmq_port: int | None = None,
        premine_blocks: int = 0,
        fee_rate_sat_vb: int = 2,
    ):
        if (rpcuser is None) != (rpcpassword is None):
            raise ValueError("Give both rpcuser and rpcpassword, or neither (cookie auth)")
        self.host = host
        self._requested_port = port
        self.datadir = Path(datadir) if datadir is not None else None
        self.rpcuser = rpcuser
        self.rpcpassword = rpcpassword
        self.auto_mine_seconds = auto_mine_seconds
        self.premine_blocks = premine_blocks
        self.fee_rate_sat_vb = fee_rate_sat_vb
        self._zmq_port = zmq_port
        self._zmq_context = None
        self._zmq_socket = None
        self._zmq_sequence: dict[bytes, int] = {}
        self.zmq_url: str | None = None
        self.cookie_path: Path | None = None
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_mining = threading.Event()
        self._miner: threading.Thread | None = None
        self._reset_state()

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The simulator is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def block_count(self) -> int:
        """Height of the tip (bitcoind's getblockcount), for callers in the same process."""
        with self._lock:
            return len(self.active) - 1

    def start(self) -> BitcoindSimulator:
        if self._server is not None:
            return self
        if self.datadir is not None:
            self.datadir.mkdir(parents=True, exist_ok=True)
            self._load()
        if self.rpcuser is None:
            base = self.datadir
            if base is None:
                self._tmpdir = tempfile.TemporaryDirectory(prefix="devnode-bitcoind-")
                base = Path(self._tmpdir.name)
            # bitcoind's cookie: "__cookie__:<random>" rewritten at every start (src/rpc/request.cpp).
            self.cookie_path = base / ".cookie"
            self._cookie_password = secrets.token_hex(32)
            fd = os.open(self.cookie_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"__cookie__:{self._cookie_password}")
        if self._zmq_port is not None:
            self._start_zmq()
        with self._lock:
            if HOT_WALLET not in self.wallets:
                self._create_hot_wallet()
            missing = self.premine_blocks - (len(self.active) - 1)
            if missing > 0:
                self._generate(missing, self._hot_new_address())
        handler = type("Handler", (_Handler,), {"node": self})
        self._server = ThreadingHTTPServer((self.host, self._requested_port), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # keep-alive handler threads must not delay stop()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="devnode-bitcoind", daemon=True)
        self._thread.start()
        if self.auto_mine_seconds:
            self._stop_mining.clear()
            self._miner = threading.Thread(target=self._auto_mine, name="devnode-miner", daemon=True)
            self._miner.start()
        return self

    def stop(self) -> None:
        self._stop_mining.set()
        if self._miner is not None:
            self._miner.join(timeout=5)
            self._miner = None
        if self._zmq_socket is not None:
            with self._lock:
                self._zmq_socket.close(linger=0)
                self._zmq_context.term()
                self._zmq_socket = self._zmq_context = self.zmq_url = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.cookie_path is not None and self.cookie_path.exists():
            self.cookie_path.unlink()  # bitcoind deletes its cookie on shutdown
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> BitcoindSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _auto_mine(self) -> None:
        while not self._stop_mining.wait(self.auto_mine_seconds):
            with self._lock:
                self._generate(1, self._hot_new_address())

    # ------------------------------------------------------------------ ZMQ
    def _start_zmq(self) -> None:
        import zmq

        self._zmq_context = zmq.Context()
        self._zmq_socket = self._zmq_context.socket(zmq.PUB)
        if self._zmq_port == 0:
            port = self._zmq_socket.bind_to_random_port(f"tcp://{self.host}")
        else:
            port = self._zmq_port
            self._zmq_socket.bind(f"tcp://{self.host}:{port}")
        self.zmq_url = f"tcp://{self.host}:{port}"

    def _publish(self, topic: bytes, body: bytes) -> None:
        """bitcoind's ZMQ format (doc/zmq.md): [topic, body, 4-byte little-endian sequence per topic]."""
        if self._zmq_socket is None:
            return
        sequence = self._zmq_sequence.get(topic, 0)
        self._zmq_sequence[topic] = (sequence + 1) & 0xFFFFFFFF
        self._zmq_socket.send_multipart([topic, body, sequence.to_bytes(4, "little")])

    def _publish_tx(self, txid: str) -> None:
        if self._zmq_socket is not None:
            self._publish(b"rawtx", bytes.fromhex(self.txs[txid]["hex"]))

    def _publish_tip(self) -> None:
        if self._zmq_socket is not None:
            self._publish(b"hashblock", bytes.fromhex(self.active[-1]))  # display byte order, as bitcoind

    # ------------------------------------------------------------------ auth
    def check_auth(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        if self.rpcuser is not None:
            expected_user, expected_password = self.rpcuser, self.rpcpassword
        else:
            expected_user, expected_password = "__cookie__", self._cookie_password
        ok_user = hmac.compare_digest(user.encode(), expected_user.encode())
        ok_password = hmac.compare_digest(password.encode(), expected_password.encode())
        return ok_user and ok_password

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self.blocks: dict[str, dict] = {}  # every block ever seen, also invalidated ones
        self.active: list[str] = []  # active chain: hashes by height
        self.invalid: set[str] = set()
        self.txs: dict[str, dict] = {}  # txid -> {"hex", "vin", "vout", "coinbase", "time"}
        self.tx_height: dict[str, int] = {}  # confirmed txid -> height on the active chain
        self.mempool: OrderedDict[str, None] = OrderedDict()
        # txids evicted by dropmempooltx (a double spend won) -> tip height then; wallets report
        # them with negative confirmations, as bitcoind does for conflicted transactions.
        self.conflicted: dict[str, int] = {}
        self.utxos: dict[tuple[str, int], tuple[int, str]] = {}  # chain + mempool view
        self.spent_by: dict[tuple[str, int], str] = {}
        self.wallets: dict[str, _Wallet] = {}
        self.script_index: dict[str, set[str]] = {}  # script hex -> wallet names
        self._connect_genesis()

    def _connect_genesis(self) -> None:
        # Our own genesis (a coinbase to an unspendable script): real regtest's genesis hash is
        # hard-coded in bitcoind, ours only needs to be stable for a given simulator state.
        cb = chain.coinbase_tx(0, b"\x6a", chain.block_subsidy(0))
        self._connect_block([self._add_tx(cb, coinbase=True)], chain.REGTEST_GENESIS_TIME)

    def _save(self) -> None:
        if self.datadir is None:
            return
        state = {
            "blocks": [
                {k: b[k] for k in ("hash", "height", "prev", "time", "txids")} for b in self.blocks.values()
            ],
            "active": self.active,
            "invalid": sorted(self.invalid),
            "txs": {txid: {"hex": t["hex"], "coinbase": t["coinbase"], "time": t["time"]} for txid, t in self.txs.items()},
            "mempool": list(self.mempool),
            "conflicted": self.conflicted,
            "wallets": [w.state() for w in self.wallets.values()],
        }
        path = self.datadir / "bitcoind-state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)  # atomic: a crash leaves the old or the new state, never half

    def _load(self) -> None:
        path = self.datadir / "bitcoind-state.json"
        if not path.exists():
            return
        try:
            state = json.loads(path.read_text())
        except ValueError:
            raise RuntimeError(f"The devnode state file {path} is corrupt; delete it to start a new chain") from None
        self._reset_state()
        self.blocks.clear()
        self.active.clear()
        self.txs.clear()
        self.tx_height.clear()
        self.utxos.clear()
        self.spent_by.clear()
        for w in state["wallets"]:
            wallet = _Wallet(w["name"], private_keys=w["private_keys"], blank=w["blank"], seed=w["seed"])
            self.wallets[wallet.name] = wallet
            for d in w["descriptors"]:
                self._wallet_add_descriptor(wallet, d["desc"].split("#")[0], d["range"], d["active"], d["internal"], rescan=False, next_index=d["next"])
        for t in state["txs"].values():
            self._add_tx(Transaction.parse(bytes.fromhex(t["hex"])), coinbase=t["coinbase"], when=t["time"])
        for b in state["blocks"]:
            self.blocks[b["hash"]] = dict(b)
        for block_hash in state["active"]:
            self._apply_block(self.blocks[block_hash])
            self.active.append(block_hash)
        self.invalid = set(state["invalid"])
        self.conflicted = dict(state.get("conflicted", {}))
        for txid in state["mempool"]:
            self._apply_tx(txid)
            self.mempool[txid] = None

    # ------------------------------------------------------------------ chain mechanics
    def _add_tx(self, tx: Transaction, *, coinbase: bool = False, when: int | None = None) -> str:
        txid = tx.txid().hex()
        if txid not in self.txs:
            self.txs[txid] = {
                "hex": tx.serialize().hex(),
                "tx": tx,
                "coinbase": coinbase,
                "vin": [] if coinbase else [(i.txid.hex(), i.vout) for i in tx.vin],
                "vout": [(o.value, o.script_pubkey.data.hex()) for o in tx.vout],
                "time": when or int(time.time()),
            }
        return txid

    def _apply_tx(self, txid: str) -> None:
        """Spend the inputs and create the outputs of ``txid`` in the UTXO view; notify wallets."""
        t = self.txs[txid]
        for outpoint in t["vin"]:
            self.utxos.pop(outpoint, None)
            self.spent_by[outpoint] = txid
        for n, (value, script) in enumerate(t["vout"]):
            self.utxos[(txid, n)] = (value, script)
        self._wallets_notice(txid)

    def _unapply_tx(self, txid: str) -> None:
        t = self.txs[txid]
        for n in range(len(t["vout"])):
            self.utxos.pop((txid, n), None)
        for outpoint in t["vin"]:
            if self.spent_by.get(outpoint) == txid:
                del self.spent_by[outpoint]
                funding = self.txs.get(outpoint[0])
                if funding is not None and (outpoint[0] in self.tx_height or outpoint[0] in self.mempool):
                    self.utxos[outpoint] = funding["vout"][outpoint[1]]

    def _wallets_notice(self, txid: str) -> None:
        t = self.txs[txid]
        # Look up each output script (and each spent output) in one dict: cost per transaction,
        # independent of how many addresses the wallets watch.
        touched: set[str] = set()
        for n, (_value, script) in enumerate(t["vout"]):
            for name in self.script_index.get(script, ()):
                touched.add(name)
                self.wallets[name].outpoints.add((txid, n))
        for outpoint in t["vin"]:
            funding = self.txs.get(outpoint[0])
            if funding is None or outpoint[1] >= len(funding["vout"]):
                continue
            for name in self.script_index.get(funding["vout"][outpoint[1]][1], ()):
                touched.add(name)
        for name in touched:
            self.wallets[name].txids.setdefault(txid, t["time"])

    def _apply_block(self, block: dict) -> None:
        height = block["height"]
        for txid in block["txids"]:
            self.conflicted.pop(txid, None)
            if txid in self.mempool:
                del self.mempool[txid]  # already applied to the view as a mempool tx
                self.tx_height[txid] = height
                continue
            self.tx_height[txid] = height
            self._apply_tx(txid)

    def _connect_block(self, txids: list[str], block_time: int | None = None) -> dict:
        prev = self.active[-1] if self.active else "00" * 32
        height = len(self.active)
        prev_time = self.blocks[prev]["time"] if self.active else 0
        block_time = max(block_time or int(time.time()), prev_time + 1)
        merkle = chain.merkle_root(txids)
        block_hash, nonce, header = chain.mine_header(prev, merkle, block_time)
        block = {"hash": block_hash, "height": height, "prev": prev, "time": block_time, "txids": txids, "header": header}
        self.blocks[block_hash] = block
        self._apply_block(block)
        self.active.append(block_hash)
        for txid in txids:
            self._publish_tx(txid)
        self._publish_tip()
        return block

    def _generate(self, nblocks: int, address: str) -> list[str]:
        script = _regtest_script(address)
        hashes = []
        for _ in range(nblocks):
            height = len(self.active)
            cb = chain.coinbase_tx(height, script, chain.block_subsidy(height))
            cb_txid = self._add_tx(cb, coinbase=True)
            block = self._connect_block([cb_txid, *self.mempool.keys()])
            hashes.append(block["hash"])
        self._save()
        return hashes

    def _drop_tx(self, txid: str) -> list[str]:
        """Remove ``txid`` and its mempool descendants from the mempool and the UTXO view."""
        dropped = []
        stack = [txid]
        while stack:
            current = stack.pop()
            if current not in self.mempool and current in self.tx_height:
                continue
            for n in range(len(self.txs[current]["vout"])):
                child = self.spent_by.get((current, n))
                if child is not None and child in self.mempool:
                    stack.append(child)
            self._unapply_tx(current)
            self.mempool.pop(current, None)
            dropped.append(current)
        return dropped

    def _disconnect_tip(self) -> None:
        block_hash = self.active.pop()
        block = self.blocks[block_hash]
        for txid in reversed(block["txids"]):
            del self.tx_height[txid]
            if self.txs[txid]["coinbase"]:
                self.mempool[txid] = None  # so _drop_tx treats it as unconfirmed
                self._drop_tx(txid)
            else:
                self.mempool[txid] = None
                self.mempool.move_to_end(txid, last=False)

    # ------------------------------------------------------------------ wallets
    def _create_hot_wallet(self) -> None:
        wallet = _Wallet(HOT_WALLET, private_keys=True, blank=False)
        self.wallets[HOT_WALLET] = wallet
        self._hot_add_descriptors(wallet)
        self._save()

    def _hot_add_descriptors(self, wallet: _Wallet) -> None:
        # BIP84 account on regtest: wpkh(tprv/84h/1h/0h/{0,1}/*), receive and change.
        account = wallet.root.derive("m/84h/1h/0h")
        for branch, internal in ((0, False), (1, True)):
            body = f"wpkh([{wallet.root.my_fingerprint.hex()}/84h/1h/0h]{account.to_public().to_base58()}/{branch}/*)"
            if body not in wallet.descriptors:
                self._wallet_add_descriptor(wallet, body, [0, 99], True, internal, rescan=False)

    def _hot_key(self, wallet: _Wallet, script_hex: str) -> ec.PrivateKey:
        key = wallet.keys.get(script_hex)
        if key is None:
            body, index = wallet.scripts[script_hex]
            branch = wallet.descriptors[body]["internal"] and 1 or 0
            key = wallet.root.derive(f"m/84h/1h/0h/{branch}/{index}").key
            wallet.keys[script_hex] = key
        return key

    def _hot_new_address(self, internal: bool = False) -> str:
        return self._wallet_new_address(self.wallets[HOT_WALLET], internal=internal)

    def _wallet_new_address(self, wallet: _Wallet, *, internal: bool = False) -> str:
        for body, d in wallet.descriptors.items():
            if d["active"] and d["internal"] == internal and d["range"] is not None:
                index = d["next"]
                if index > d["range"][1]:
                    # bitcoind tops up its keypool; so do we, by widening the range.
                    self._wallet_add_descriptor(wallet, body, [0, index + 99], True, internal, rescan=False, next_index=index)
                d["next"] = index + 1
                self._save()
                return Descriptor.from_string(body).derive(index).address(REGTEST)
        raise RPCError(RPC_WALLET_ERROR, "Error: This wallet has no available keys")

    def _wallet_add_descriptor(self, wallet, body, rng, active, internal, *, rescan: bool, next_index: int = 0) -> None:
        if body.startswith("addr("):
            script = _regtest_script(body[5:-1]).hex()
            scripts = [(script, None)]
            entry = wallet.descriptors.setdefault(body, {"desc": f"{body}#{descriptor_checksum(body)}", "range": None, "next": 0, "active": False, "internal": False, "derived": 0})
        else:
            desc = Descriptor.from_string(body)
            entry = wallet.descriptors.get(body)
            if entry is None:
                entry = {"desc": f"{body}#{descriptor_checksum(body)}", "range": None, "next": next_index, "active": active, "internal": internal, "derived": 0}
                wallet.descriptors[body] = entry
            entry["active"] = active or entry["active"]
            entry["internal"] = internal
            scripts = []
            if desc.is_wildcard:
                start = entry["derived"]
                end = rng[1]
                entry["range"] = [0, max(end, entry["range"][1] if entry["range"] else 0)]
                scripts.extend(_derive_scripts(desc, start, end))
                entry["derived"] = max(entry["derived"], end + 1)
            else:
                scripts.append((desc.script_pubkey().data.hex(), None))
        for script, index in scripts:
            wallet.scripts[script] = (body, index)
            self.script_index.setdefault(script, set()).add(wallet.name)
        if rescan and scripts:
            wanted = {s for s, _ in scripts}
            for txid in self._chain_and_mempool_txids():
                t = self.txs[txid]
                if any(script in wanted for _v, script in t["vout"]):
                    self._wallets_notice(txid)

    def _chain_and_mempool_txids(self):
        for block_hash in self.active:
            yield from self.blocks[block_hash]["txids"]
        yield from list(self.mempool)

    def _wallet(self, name: str | None) -> _Wallet:
        if name is None:
            if len(self.wallets) == 1:
                return next(iter(self.wallets.values()))
            if not self.wallets:
                raise RPCError(RPC_WALLET_NOT_FOUND, "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)")
            raise RPCError(RPC_WALLET_NOT_SPECIFIED, "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).")
        wallet = self.wallets.get(name)
        if wallet is None:
            raise RPCError(RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded")
        return wallet

    def _confirmations(self, txid: str) -> int:
        height = self.tx_height.get(txid)
        if height is not None:
            return len(self.active) - height
        if txid in self.conflicted and txid not in self.mempool:
            return -1
        return 0

    def _wallet_entries(self, wallet: _Wallet, txid: str) -> list[dict]:
        """listtransactions-style entries (category receive/send/generate/immature) for one tx."""
        t = self.txs[txid]
        confirmations = self._confirmations(txid)
        common: dict = {"confirmations": confirmations}
        if confirmations > 0:
            block = self.blocks[self.active[self.tx_height[txid]]]
            common.update(
                blockhash=block["hash"], blockheight=block["height"],
                blockindex=block["txids"].index(txid), blocktime=block["time"],
            )
        else:
            common["trusted"] = txid in self.mempool
        common.update(txid=txid, wtxid=txid, walletconflicts=[], time=wallet.txids.get(txid, t["time"]),
                      timereceived=wallet.txids.get(txid, t["time"]), **{"bip125-replaceable": "no"})
        entries = []
        ours_in = any(
            outpoint[0] in self.txs and self.txs[outpoint[0]]["vout"][outpoint[1]][1] in wallet.scripts
            for outpoint in t["vin"]
        )
        for n, (value, script) in enumerate(t["vout"]):
            mine = script in wallet.scripts
            address = _script_address(script)
            if mine:
                if t["coinbase"]:
                    category = "generate" if confirmations > chain.COINBASE_MATURITY else "immature"
                else:
                    category = "receive"
                entry = {"involvesWatchonly": not wallet.private_keys, "address": address, "category": category,
                         "amount": chain.btc(value), "label": "", "vout": n}
                entries.append({**entry, **common})
            elif ours_in:
                entry = {"involvesWatchonly": not wallet.private_keys, "address": address, "category": "send",
                         "amount": -chain.btc(value), "vout": n, "abandoned": False}
                entries.append({**entry, **common})
        return entries

    def _spendable(self, wallet: _Wallet) -> list[tuple[str, int, int, str]]:
        coins = []
        tip = len(self.active)
        for outpoint in wallet.outpoints:
            utxo = self.utxos.get(outpoint)
            if utxo is None:
                continue
            t = self.txs[outpoint[0]]
            if t["coinbase"]:
                height = self.tx_height.get(outpoint[0])
                if height is None or tip - height < chain.COINBASE_MATURITY + 1:
                    continue  # coinbase outputs need 100 confirmations (consensus/tx_verify.cpp)
            coins.append((outpoint[0], outpoint[1], utxo[0], utxo[1]))
        coins.sort(key=lambda c: (self.tx_height.get(c[0], 1 << 30), c[0], c[1]))
        return coins

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, method, params, wallet_name: str | None):
        if not isinstance(method, str):
            raise RPCError(RPC_INVALID_REQUEST, "Method must be a string")
        fn = getattr(self, f"rpc_{method}", None)
        if fn is None:
            raise RPCError(RPC_METHOD_NOT_FOUND, "Method not found")
        if params is None:
            params = []
        if isinstance(params, dict) and "_wallet" in params:
            raise RPCError(RPC_INVALID_PARAMETER, "Unknown named parameter _wallet")
        if not isinstance(params, list | dict):
            raise RPCError(RPC_INVALID_REQUEST, "Params must be an array or object")
        signature = inspect.signature(fn)
        try:
            if isinstance(params, dict):
                bound = signature.bind_partial(**params)
            else:
                bound = signature.bind_partial(*params)
        except TypeError as exc:
            raise RPCError(RPC_MISC_ERROR, f"{method}: wrong arguments ({exc})") from None
        required = [p.name for p in signature.parameters.values()
                    if p.default is inspect.Parameter.empty and p.name != "_wallet"]
        missing = [name for name in required if name not in bound.arguments]
        if missing:
            raise RPCError(RPC_MISC_ERROR, f"{method}: missing argument {missing[0]}")
        if "_wallet" in signature.parameters:
            bound.arguments["_wallet"] = wallet_name
        with self._lock:
            return fn(*bound.args, **bound.kwargs)

    # ------------------------------------------------------------------ chain RPCs
    def _block_by_hash(self, blockhash) -> dict:
        if not isinstance(blockhash, str) or len(blockhash) != 64:
            raise RPCError(RPC_INVALID_PARAMETER, f"blockhash must be of length 64 (not {len(str(blockhash))}, for '{blockhash}')")
        block = self.blocks.get(blockhash)
        if block is None:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        return block

    def _in_active(self, block: dict) -> bool:
        return block["height"] < len(self.active) and self.active[block["height"]] == block["hash"]

    def _header_json(self, block: dict) -> dict:
        active = self._in_active(block)
        header = bytes.fromhex(self._header_hex(block))
        out = {
            "hash": block["hash"],
            "confirmations": len(self.active) - block["height"] if active else -1,
            "height": block["height"],
            "version": 0x20000000,
            "versionHex": "20000000",
            "merkleroot": chain.merkle_root(block["txids"]),
            "time": block["time"],
            "mediantime": block["time"],
            "nonce": int.from_bytes(header[76:80], "little"),
            "bits": f"{chain.REGTEST_BITS:08x}",
            "difficulty": Decimal("4.656542373906925e-10"),
            "chainwork": f"{(block['height'] + 1) * 2:064x}",
            "nTx": len(block["txids"]),
        }
        if block["height"] > 0:
            out["previousblockhash"] = block["prev"]
        if active and block["height"] + 1 < len(self.active):
            out["nextblockhash"] = self.active[block["height"] + 1]
        return out

    def _header_hex(self, block: dict) -> str:
        if "header" not in block:
            _hash, _nonce, header = chain.mine_header(block["prev"], chain.merkle_root(block["txids"]), block["time"])
            block["header"] = header
        return block["header"]

    def rpc_getblockchaininfo(self):
        tip = self.blocks[self.active[-1]]
        return {
            "chain": "regtest", "blocks": tip["height"], "headers": tip["height"],
            "bestblockhash": tip["hash"], "difficulty": Decimal("4.656542373906925e-10"),
            "time": tip["time"], "mediantime": tip["time"], "verificationprogress": 1,
            "initialblockdownload": False, "chainwork": f"{(tip['height'] + 1) * 2:064x}",
            "size_on_disk": 0, "pruned": False, "warnings": [],
        }

    def rpc_getblockcount(self):
        return len(self.active) - 1

    def rpc_getbestblockhash(self):
        return self.active[-1]

    def rpc_getblockhash(self, height):
        if isinstance(height, bool) or not isinstance(height, int):
            raise RPCError(RPC_TYPE_ERROR, "JSON value is not an integer as expected")
        if not 0 <= height < len(self.active):
            raise RPCError(RPC_INVALID_PARAMETER, "Block height out of range")
        return self.active[height]

    def rpc_getblockheader(self, blockhash, verbose=True):
        block = self._block_by_hash(blockhash)
        return self._header_json(block) if verbose else self._header_hex(block)

    def rpc_getblock(self, blockhash, verbosity=1):
        block = self._block_by_hash(blockhash)
        if verbosity in (0, False):
            from embit import compact
            raw = bytes.fromhex(self._header_hex(block)) + compact.to_bytes(len(block["txids"]))
            raw += b"".join(bytes.fromhex(self.txs[t]["hex"]) for t in block["txids"])
            return raw.hex()
        out = self._header_json(block)
        if verbosity in (1, True):
            out["tx"] = list(block["txids"])
        else:
            out["tx"] = [self._decode_tx(t) for t in block["txids"]]
        return out

    def _decode_tx(self, txid: str) -> dict:
        t = self.txs[txid]
        raw = bytes.fromhex(t["hex"])
        tx = t.get("tx") or Transaction.parse(raw)
        t["tx"] = tx
        base_size = len(Transaction(tx.version, [TransactionInput(i.txid, i.vout, i.script_sig, i.sequence) for i in tx.vin], tx.vout, tx.locktime).serialize())
        weight = base_size * 3 + len(raw)
        vin = []
        for i in tx.vin:
            if t["coinbase"]:
                vin.append({"coinbase": i.script_sig.data.hex(), "sequence": i.sequence})
            else:
                item = {"txid": i.txid.hex(), "vout": i.vout, "scriptSig": {"asm": "", "hex": i.script_sig.data.hex()}, "sequence": i.sequence}
                if i.is_segwit:
                    item["txinwitness"] = [w.hex() for w in i.witness.items]
                vin.append(item)
        vout = []
        for n, o in enumerate(tx.vout):
            spk = {"asm": "", "hex": o.script_pubkey.data.hex(), "type": _script_type(o.script_pubkey.data)}
            address = _script_address(spk["hex"])
            if address and spk["type"] != "nonstandard":
                spk["address"] = address
            vout.append({"value": chain.btc(o.value), "n": n, "scriptPubKey": spk})
        return {"txid": txid, "hash": chain.hash_hex(chain.sha256d(raw)), "version": tx.version, "size": len(raw),
                "vsize": (weight + 3) // 4, "weight": weight, "locktime": tx.locktime, "vin": vin, "vout": vout, "hex": t["hex"]}

    def rpc_getrawtransaction(self, txid, verbose=False, blockhash=None):
        if not isinstance(txid, str) or txid not in self.txs or (txid not in self.tx_height and txid not in self.mempool):
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
        if not verbose:
            return self.txs[txid]["hex"]
        out = self._decode_tx(txid)
        if txid in self.tx_height:
            block = self.blocks[self.active[self.tx_height[txid]]]
            out.update(blockhash=block["hash"], confirmations=self._confirmations(txid), time=block["time"], blocktime=block["time"])
        return out

    def rpc_getrawmempool(self, verbose=False):
        return list(self.mempool)

    def rpc_estimatesmartfee(self, conf_target, estimate_mode="conservative"):
        if isinstance(conf_target, bool) or not isinstance(conf_target, int) or conf_target < 1:
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid conf_target, must be between 1 and 1008")
        conf_target = min(conf_target, 1008)
        # A simple falling curve: urgent targets pay more. sat/vB -> BTC/kvB.
        sat_vb = max(1, self.fee_rate_sat_vb * 6 // min(conf_target, 6))
        return {"feerate": chain.btc(sat_vb * 1000), "blocks": max(conf_target, 2) if conf_target == 1 else conf_target}

    def rpc_sendrawtransaction(self, hexstring, maxfeerate=None):
        try:
            tx = Transaction.parse(bytes.fromhex(hexstring))
        except Exception:
            raise RPCError(RPC_DESERIALIZATION_ERROR, "TX decode failed. Make sure the tx has at least one input.") from None
        if not tx.vin:
            raise RPCError(RPC_DESERIALIZATION_ERROR, "TX decode failed. Make sure the tx has at least one input.")
        txid = tx.txid().hex()
        if txid in self.tx_height:
            raise RPCError(RPC_VERIFY_ALREADY_IN_CHAIN, "Transaction already in block chain")
        if txid in self.mempool:
            return txid
        conflicts: set[str] = set()
        for i in tx.vin:
            outpoint = (i.txid.hex(), i.vout)
            spender = self.spent_by.get(outpoint)
            if spender is not None and spender in self.mempool:
                conflicts.add(spender)
            elif spender is not None or (outpoint[0] in self.txs and outpoint not in self.utxos):
                raise RPCError(RPC_VERIFY_ERROR, "bad-txns-inputs-missingorspent")
        if conflicts:
            # Replace-by-fee, as bitcoind 28+ does by default (full RBF, no BIP125 signal needed):
            # the replacement must pay more fee than what it evicts, when the fees can be known.
            new_fee = self._fee(tx)
            old_fees = [self._fee_of(c) for c in conflicts]
            if new_fee is not None and None not in old_fees and new_fee <= sum(old_fees):
                raise RPCError(RPC_VERIFY_REJECTED, f"insufficient fee, rejecting replacement {txid}")
            for conflict in conflicts:
                for gone in self._drop_tx(conflict):
                    self.conflicted[gone] = len(self.active) - 1
        # Inputs the simulator has never heard of are accepted: a test may pay from thin air.
        self.txs.pop(txid, None)
        self.conflicted.pop(txid, None)
        self._add_tx(tx)
        self._apply_tx(txid)
        self.mempool[txid] = None
        self._publish_tx(txid)
        self._save()
        return txid

    def _fee(self, tx: Transaction) -> int | None:
        total_in = 0
        for i in tx.vin:
            funding = self.txs.get(i.txid.hex())
            if funding is None or i.vout >= len(funding["vout"]):
                return None
            total_in += funding["vout"][i.vout][0]
        return total_in - sum(o.value for o in tx.vout)

    def _fee_of(self, txid: str) -> int | None:
        t = self.txs[txid]
        return self._fee(t.get("tx") or Transaction.parse(bytes.fromhex(t["hex"])))

    def rpc_generatetoaddress(self, nblocks, address, maxtries=1000000):
        if isinstance(nblocks, bool) or not isinstance(nblocks, int) or nblocks < 0:
            raise RPCError(RPC_TYPE_ERROR, "nblocks must be a non-negative integer")
        if nblocks > 10_000:
            raise RPCError(RPC_INVALID_PARAMETER, "The devnode mines at most 10000 blocks per call")
        return self._generate(nblocks, address)

    def rpc_invalidateblock(self, blockhash):
        block = self._block_by_hash(blockhash)
        if block["height"] == 0:
            raise RPCError(RPC_MISC_ERROR, "Cannot invalidate the genesis block")
        if self._in_active(block):
            while len(self.active) > block["height"]:
                self._disconnect_tip()
            self._drop_immature_spends()
            self._publish_tip()
        self.invalid.add(blockhash)
        self._save()
        return None

    def _drop_immature_spends(self) -> None:
        """After a reorg, a mempool spend of a coinbase that is no longer 100 deep goes (removeForReorg)."""
        for txid in list(self.mempool):
            if txid not in self.mempool:
                continue  # already dropped as a descendant
            for funding_txid, _vout in self.txs[txid]["vin"]:
                funding = self.txs.get(funding_txid)
                height = self.tx_height.get(funding_txid)
                if funding is not None and funding["coinbase"] and height is not None and len(self.active) - height < chain.COINBASE_MATURITY:
                    self._drop_tx(txid)
                    break

    def rpc_reconsiderblock(self, blockhash):
        """Re-connect an invalidated branch if it is longer than the active chain (most work)."""
        block = self._block_by_hash(blockhash)
        self.invalid.discard(blockhash)
        branch = []
        cursor = block
        while not self._in_active(cursor):
            branch.append(cursor)
            cursor = self.blocks[cursor["prev"]]
        fork_height = cursor["height"]
        # descendants of the reconsidered block that are themselves not invalidated
        tip_branch = list(reversed(branch))
        while True:
            children = [b for b in self.blocks.values() if b["prev"] == tip_branch[-1]["hash"] and b["hash"] not in self.invalid] if tip_branch else []
            if not children:
                break
            tip_branch.append(children[0])
        if tip_branch and fork_height + len(tip_branch) > len(self.active) - 1:
            while len(self.active) > fork_height + 1:
                self._disconnect_tip()
            for b in tip_branch:
                self.invalid.discard(b["hash"])
                self._apply_block(b)
                self.active.append(b["hash"])
            self._publish_tip()
            for txid in list(self.mempool):
                if any(outpoint not in self.utxos and self.spent_by.get(outpoint) != txid for outpoint in self.txs[txid]["vin"] if outpoint[0] in self.txs):
                    self._drop_tx(txid)
        self._save()
        return None

    def rpc_dropmempooltx(self, txid):
        """Devnode only: evict a mempool tx and its descendants, as a double spend would."""
        if txid not in self.mempool:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
        dropped = self._drop_tx(txid)
        for gone in dropped:
            self.conflicted[gone] = len(self.active) - 1
        self._save()
        return dropped

    # ------------------------------------------------------------------ wallet RPCs
    def rpc_listwallets(self):
        return list(self.wallets)

    def rpc_createwallet(self, wallet_name, disable_private_keys=False, blank=False, passphrase="", avoid_reuse=False, descriptors=True, load_on_startup=None, external_signer=False):
        if not isinstance(wallet_name, str) or not wallet_name or "/" in wallet_name:
            raise RPCError(RPC_WALLET_ERROR, "Invalid wallet name")
        if descriptors is False:
            raise RPCError(RPC_WALLET_ERROR, "Legacy wallets are not supported; create a descriptor wallet")
        if wallet_name in self.wallets:
            raise RPCError(RPC_WALLET_ERROR, f"Wallet file verification failed. Failed to create database path '{wallet_name}'. Database already exists.")
        wallet = _Wallet(wallet_name, private_keys=not disable_private_keys, blank=bool(blank))
        self.wallets[wallet_name] = wallet
        if wallet.private_keys and not blank:
            self._hot_add_descriptors(wallet)
        self._save()
        return {"name": wallet_name, "warnings": []}

    def rpc_loadwallet(self, filename, load_on_startup=None):
        if filename in self.wallets:
            raise RPCError(RPC_WALLET_ALREADY_LOADED, f"Wallet \"{filename}\" is already loaded.")
        raise RPCError(RPC_WALLET_NOT_FOUND, f"Wallet file verification failed. Failed to load database path '{filename}'. Path does not exist.")

    def rpc_getwalletinfo(self, _wallet=None):
        wallet = self._wallet(_wallet)
        return {"walletname": wallet.name, "walletversion": 169900, "format": "sqlite", "txcount": len(wallet.txids),
                "keypoolsize": 0, "private_keys_enabled": wallet.private_keys, "avoid_reuse": False,
                "scanning": False, "descriptors": True, "external_signer": False, "blank": wallet.blank}

    def rpc_getbalance(self, dummy="*", minconf=0, include_watchonly=True, avoid_reuse=False, _wallet=None):
        wallet = self._wallet(_wallet)
        return chain.btc(sum(value for _t, _n, value, _s in self._spendable(wallet)))

    def rpc_getdescriptorinfo(self, descriptor):
        body = self._parse_descriptor(descriptor, require_checksum=False)
        ranged = "*" in body
        private = _has_private_key(body)
        return {"descriptor": f"{body}#{descriptor_checksum(body)}", "checksum": descriptor_checksum(body),
                "isrange": ranged, "issolvable": not body.startswith("addr("), "hasprivatekeys": private}

    def _parse_descriptor(self, descriptor, *, require_checksum: bool) -> str:
        if not isinstance(descriptor, str):
            raise RPCError(RPC_TYPE_ERROR, "Descriptor must be a string")
        body, _, given = descriptor.partition("#")
        if given:
            try:
                expected = descriptor_checksum(body)
            except Exception:
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid characters in payload") from None
            if given != expected:
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, f"Provided checksum '{given}' does not match computed checksum '{expected}'")
        elif require_checksum:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Missing checksum")
        if body.startswith("addr(") and body.endswith(")"):
            _regtest_script(body[5:-1])
            return body
        try:
            desc = Descriptor.from_string(body)
        except Exception as exc:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid descriptor: {exc}") from None
        for key in desc.keys:
            if key.is_extended and key.key.version not in (REGTEST["xpub"], REGTEST["xprv"]):
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "key is not valid for this network (expected tpub/tprv)")
        return body

    def _parse_range(self, rng) -> list[int]:
        if rng is None:
            return [0, DEFAULT_KEYPOOL_RANGE]
        if isinstance(rng, int) and not isinstance(rng, bool):
            rng = [0, rng]
        if (not isinstance(rng, list) or len(rng) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in rng)
                or rng[0] < 0 or rng[1] < rng[0]):
            raise RPCError(RPC_INVALID_PARAMETER, "Range should be greater or equal than 0 and end >= begin")
        if rng[1] - rng[0] >= 1_000_000:
            raise RPCError(RPC_INVALID_PARAMETER, "Range is too large")
        return rng

    def rpc_deriveaddresses(self, descriptor, range=None):  # noqa: A002 - bitcoind's parameter name
        body = self._parse_descriptor(descriptor, require_checksum=True)
        if body.startswith("addr("):
            return [body[5:-1]]
        desc = Descriptor.from_string(body)
        if not desc.is_wildcard:
            if range is not None:
                raise RPCError(RPC_INVALID_PARAMETER, "Range should not be specified for an un-ranged descriptor")
            return [desc.address(REGTEST)]
        if range is None:
            raise RPCError(RPC_INVALID_PARAMETER, "Range must be specified for a ranged descriptor")
        start, end = self._parse_range(range)
        return [desc.derive(i).address(REGTEST) for i in builtins_range(start, end + 1)]

    def rpc_importdescriptors(self, requests, _wallet=None):
        wallet = self._wallet(_wallet)
        if not isinstance(requests, list):
            raise RPCError(RPC_TYPE_ERROR, "Expected type array")
        results = []
        for req in requests:
            try:
                if not isinstance(req, dict) or "desc" not in req:
                    raise RPCError(RPC_TYPE_ERROR, "Descriptor not found.")
                if "timestamp" not in req:
                    raise RPCError(RPC_TYPE_ERROR, "Missing required timestamp field for key")
                body = self._parse_descriptor(req["desc"], require_checksum=True)
                if not wallet.private_keys and _has_private_key(body):
                    raise RPCError(RPC_WALLET_ERROR, "Cannot import private keys to a wallet with private keys disabled")
                ranged = "*" in body
                if not ranged and "range" in req:
                    raise RPCError(RPC_INVALID_PARAMETER, "Range should not be specified for an un-ranged descriptor")
                rng = self._parse_range(req.get("range")) if ranged else None
                existing = wallet.descriptors.get(body)
                if existing and existing["range"] and rng and rng[1] < existing["range"][1]:
                    raise RPCError(RPC_INVALID_PARAMETER, f"new range must include current range = [{existing['range'][0]},{existing['range'][1]}]")
                rescan = req["timestamp"] != "now"
                self._wallet_add_descriptor(wallet, body, rng, bool(req.get("active", False)), bool(req.get("internal", False)),
                                            rescan=rescan, next_index=int(req.get("next_index", 0) or 0))
                results.append({"success": True})
            except RPCError as exc:
                results.append({"success": False, "error": {"code": exc.code, "message": exc.message}})
        self._save()
        return results

    def rpc_listdescriptors(self, private=False, _wallet=None):
        wallet = self._wallet(_wallet)
        return {"wallet_name": wallet.name, "descriptors": [
            {"desc": d["desc"], "timestamp": 0, "active": d["active"], "internal": d["internal"],
             **({"range": d["range"], "next": d["next"]} if d["range"] else {})}
            for d in wallet.descriptors.values()]}

    def rpc_getnewaddress(self, label="", address_type=None, _wallet=None):
        return self._wallet_new_address(self._wallet(_wallet))

    def rpc_getrawchangeaddress(self, address_type=None, _wallet=None):
        return self._wallet_new_address(self._wallet(_wallet), internal=True)

    def rpc_listsinceblock(self, blockhash="", target_confirmations=1, include_watchonly=True, include_removed=True, include_change=False, label=None, _wallet=None):
        """Wallet transactions after ``blockhash`` plus unconfirmed ones (src/wallet/rpc/transactions.cpp).

        When ``blockhash`` is no longer on the active chain, the transactions of the blocks
        between it and the fork point are listed under ``removed``.
        """
        wallet = self._wallet(_wallet)
        if isinstance(target_confirmations, bool) or not isinstance(target_confirmations, int) or target_confirmations < 1:
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter")
        removed_txids: list[str] = []
        if blockhash:
            since = self._block_by_hash(blockhash)
            cursor = since
            while not self._in_active(cursor):
                if include_removed:
                    removed_txids.extend(t for t in cursor["txids"] if t in wallet.txids)
                cursor = self.blocks[cursor["prev"]]
            fork_height = cursor["height"]
        else:
            fork_height = -1
        txids: list[str] = []
        for height in builtins_range(fork_height + 1, len(self.active)):
            txids.extend(t for t in self.blocks[self.active[height]]["txids"] if t in wallet.txids)
        txids.extend(t for t in self.mempool if t in wallet.txids)
        txids.extend(t for t, height in self.conflicted.items() if height >= fork_height and t in wallet.txids)
        transactions = [e for t in txids for e in self._wallet_entries(wallet, t)]
        removed = []
        for t in removed_txids:
            for e in self._wallet_entries(wallet, t):
                if t not in self.tx_height and t not in self.mempool:
                    e.pop("trusted", None)
                removed.append(e)
        last_height = max(len(self.active) - target_confirmations, 0)
        return {"transactions": transactions, "removed": removed, "lastblock": self.active[last_height]}

    def rpc_gettransaction(self, txid, include_watchonly=True, verbose=False, _wallet=None):
        wallet = self._wallet(_wallet)
        if not isinstance(txid, str) or txid not in wallet.txids:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
        entries = self._wallet_entries(wallet, txid)
        amount = sum((e["amount"] for e in entries if e["category"] in ("receive", "send")), Decimal(0))
        head = {k: v for k, v in (entries[0] if entries else {}).items()
                if k in ("confirmations", "blockhash", "blockheight", "blockindex", "blocktime", "trusted",
                         "txid", "wtxid", "walletconflicts", "time", "timereceived", "bip125-replaceable")}
        if not entries:
            head = {"confirmations": self._confirmations(txid), "txid": txid}
        details = [{k: v for k, v in e.items() if k in ("involvesWatchonly", "address", "category", "amount", "label", "vout", "abandoned")} for e in entries]
        out = {"amount": chain.btc(0) + amount, **head, "details": details, "hex": self.txs[txid]["hex"]}
        if verbose:
            out["decoded"] = self._decode_tx(txid)
        return out

    def rpc_listunspent(self, minconf=1, maxconf=9999999, addresses=None, include_unsafe=True, query_options=None, _wallet=None):
        wallet = self._wallet(_wallet)
        out = []
        for txid, n, value, script in self._spendable(wallet):
            confs = self._confirmations(txid)
            if not minconf <= confs <= maxconf:
                continue
            address = _script_address(script)
            if addresses and address not in addresses:
                continue
            out.append({"txid": txid, "vout": n, "address": address, "scriptPubKey": script, "amount": chain.btc(value),
                        "confirmations": confs, "spendable": wallet.private_keys, "solvable": True, "safe": True})
        return out

    def rpc_sendtoaddress(self, address, amount, comment="", comment_to="", subtractfeefromamount=False, replaceable=True, conf_target=None, estimate_mode="unset", avoid_reuse=True, fee_rate=None, verbose=False, _wallet=None):
        wallet = self._wallet(_wallet)
        if not wallet.private_keys:
            raise RPCError(RPC_WALLET_ERROR, "Error: Private keys are disabled for this wallet")
        script = _regtest_script(address)
        try:
            value = chain.sats_from_btc(amount)
        except ValueError:
            raise RPCError(RPC_TYPE_ERROR, "Invalid amount") from None
        if value <= 0:
            raise RPCError(RPC_TYPE_ERROR, "Invalid amount for send")
        if value < 294:
            raise RPCError(RPC_WALLET_ERROR, "Transaction amount too small")
        rate = int(fee_rate) if fee_rate is not None else self.fee_rate_sat_vb
        coins, total, fee = self._select(wallet, value, rate, n_outputs=2)
        change = total - value - fee
        if subtractfeefromamount:
            value -= fee
            change += fee
        outputs = [TransactionOutput(value, Script(script))]
        if change >= 294:
            change_script = _regtest_script(self._wallet_new_address(wallet, internal=True))
            outputs.append(TransactionOutput(change, Script(change_script)))
        # nSequence 0xfffffffd signals BIP125 replaceability.
        sequence = 0xFFFFFFFD if replaceable else 0xFFFFFFFE
        tx = Transaction(version=2, vin=[TransactionInput(bytes.fromhex(c[0]), c[1], sequence=sequence) for c in coins],
                         vout=outputs, locktime=len(self.active) - 1)
        for i, (_txid, _n, amount_in, script_hex) in enumerate(coins):
            # BIP143 signature for a P2WPKH input: script code is the P2PKH script of the key.
            key = self._hot_key(wallet, script_hex)
            pub = key.get_public_key()
            sighash = tx.sighash_segwit(i, p2pkh(pub), amount_in)
            tx.vin[i].witness = Witness([key.sign(sighash).serialize() + b"\x01", pub.sec()])
        txid = self._add_tx(tx)
        self._apply_tx(txid)
        self.mempool[txid] = None
        self._publish_tx(txid)
        self._save()
        return txid

    def _select(self, wallet: _Wallet, value: int, rate: int, *, n_outputs: int, coins=None):
        available = coins if coins is not None else self._spendable(wallet)
        chosen, total = [], 0
        for coin in available:
            chosen.append(coin)
            total += coin[2]
            # ~68 vB per P2WPKH input, ~31 per output, 11 of overhead.
            fee = rate * (11 + 68 * len(chosen) + 31 * n_outputs)
            if total >= value + fee:
                return chosen, total, fee
        raise RPCError(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds")

    def rpc_walletcreatefundedpsbt(self, inputs=None, outputs=None, locktime=0, options=None, bip32derivs=True, _wallet=None):
        """A funded PSBT (BIP174) over the wallet's coins, to be signed elsewhere (watch-only wallets)."""
        wallet = self._wallet(_wallet)
        options = options or {}
        if not isinstance(options, dict):
            raise RPCError(RPC_TYPE_ERROR, "options must be an object")
        if isinstance(outputs, dict):
            outputs = [outputs]
        if not isinstance(outputs, list) or not outputs:
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, output argument must be non-null")
        tx_outs = []
        for item in outputs:
            if not isinstance(item, dict):
                raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, key-value pair must contain exactly one key")
            for address, amount in item.items():
                try:
                    value = chain.sats_from_btc(amount)
                except ValueError:
                    raise RPCError(RPC_TYPE_ERROR, "Invalid amount") from None
                if value <= 0:
                    raise RPCError(RPC_TYPE_ERROR, "Amount out of range")
                tx_outs.append(TransactionOutput(value, Script(_regtest_script(address))))
        target = sum(o.value for o in tx_outs)
        if "fee_rate" in options:
            rate = int(Decimal(str(options["fee_rate"])))
        elif "feeRate" in options:
            rate = int(Decimal(str(options["feeRate"])) * chain.SAT_PER_BTC / 1000)
        else:
            rate = self.fee_rate_sat_vb
        rate = max(rate, 1)
        spendable = self._spendable(wallet)
        if inputs:
            wanted = {(i.get("txid"), i.get("vout")) for i in inputs if isinstance(i, dict)}
            spendable = [c for c in spendable if (c[0], c[1]) in wanted]
            if len(spendable) != len(wanted):
                raise RPCError(RPC_WALLET_ERROR, "Not solvable pre-selected input")
        coins, total, fee = self._select(wallet, target, rate, n_outputs=len(tx_outs) + 1,
                                         coins=spendable if not inputs else spendable)
        change = total - target - fee
        changepos = -1
        if change >= 294:
            change_address = options.get("changeAddress")
            if change_address is None:
                try:
                    change_address = self._wallet_new_address(wallet, internal=True)
                except RPCError:
                    raise RPCError(RPC_WALLET_ERROR, "Transaction needs a change address, but we can't generate it.") from None
            tx_outs.append(TransactionOutput(change, Script(_regtest_script(change_address))))
            changepos = len(tx_outs) - 1
        else:
            fee += change
        replaceable = options.get("replaceable", True)
        tx = Transaction(version=2, vin=[TransactionInput(bytes.fromhex(c[0]), c[1], sequence=0xFFFFFFFD if replaceable else 0xFFFFFFFE) for c in coins],
                         vout=tx_outs, locktime=locktime or 0)
        psbt = PSBT(tx)
        for i, (_txid, _n, value, script_hex) in enumerate(coins):
            scope = psbt.inputs[i]
            scope.witness_utxo = TransactionOutput(value, Script(bytes.fromhex(script_hex)))
            body, index = wallet.scripts[script_hex]
            if body.startswith("addr(") or index is None:
                continue
            derived = Descriptor.from_string(body).derive(index)
            if derived.wsh:
                scope.witness_script = derived.witness_script()
            if derived.sh:
                scope.redeem_script = derived.redeem_script()
            if bip32derivs and not derived.taproot:
                for key in derived.keys:
                    if key.origin is not None:
                        scope.bip32_derivations[key.get_public_key()] = DerivationPath(key.origin.fingerprint, key.origin.derivation)
        return {"psbt": psbt.to_string(), "fee": chain.btc(fee), "changepos": changepos}


def _derive_scripts(desc: Descriptor, start: int, end: int) -> list[tuple[str, int]]:
    """scriptPubKeys of indexes start..end. Single-key descriptors derive the parent node once
    and one child per index (half the EC work of a full ``desc.derive``); others go the long way."""
    keys = desc.keys
    single = len(keys) == 1 and desc.miniscript is None and keys[0].is_extended
    derivation = keys[0].allowed_derivation if single else None
    if single and derivation is not None and derivation.indexes and derivation.indexes[-1] is None:
        path = derivation.fill(0)[:-1]
        parent = keys[0].key.derive(path) if path else keys[0].key
        out = []
        for index in range(start, end + 1):
            pub = parent.child(index).key
            if desc.taproot:
                script = p2tr(pub)
            elif desc.sh:
                script = p2sh(p2wpkh(pub))
            elif desc.wpkh:
                script = p2wpkh(pub)
            else:
                script = desc.derive(index).script_pubkey()
            out.append((script.data.hex(), index))
        return out
    return [(desc.derive(index).script_pubkey().data.hex(), index) for index in range(start, end + 1)]


def _has_private_key(body: str) -> bool:
    if body.startswith("addr("):
        return False
    return any(key.is_private for key in Descriptor.from_string(body).keys)


def builtins_range(start: int, stop: int):
    """``range`` under another name: some RPC parameters are called ``range`` (bitcoind's names)."""
    return range(start, stop)


class _Handler(BaseHTTPRequestHandler):
    node: BitcoindSimulator
    protocol_version = "HTTP/1.1"
    server_version = "devnode-bitcoind/1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall
    timeout = 60  # an idle keep-alive connection does not pin a thread forever

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        logger.debug("bitcoind devnode: " + format, *args)

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server naming
        # bitcoind answers only POST on its RPC port.
        self._reply(405, b"JSONRPC server handles only POST requests", "text/html")

    def do_POST(self):  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.node.check_auth(self.headers.get("Authorization")):
            time.sleep(0.05)  # bitcoind slows down wrong guesses (it sleeps 250 ms)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="jsonrpc"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        wallet_name = None
        path = self.path.split("?", 1)[0]
        if path.startswith("/wallet/"):
            from urllib.parse import unquote
            wallet_name = unquote(path[len("/wallet/"):])
        elif path not in ("/", ""):
            self._reply(404, b"", "text/html")
            return
        try:
            request = json.loads(raw, parse_float=Decimal)
        except ValueError:
            self._reply(500, chain.dumps({"result": None, "error": {"code": RPC_PARSE_ERROR, "message": "Parse error"}, "id": None}))
            return
        if isinstance(request, list):
            replies = [self._one(item, wallet_name)[1] for item in request]
            self._reply(200, chain.dumps(replies))
            return
        status, reply = self._one(request, wallet_name)
        self._reply(status, chain.dumps(reply))

    def _one(self, request, wallet_name) -> tuple[int, dict]:
        if not isinstance(request, dict):
            return 400, {"result": None, "error": {"code": RPC_INVALID_REQUEST, "message": "Invalid Request object"}, "id": None}
        request_id = request.get("id")
        try:
            result = self.node.dispatch(request.get("method"), request.get("params"), wallet_name)
        except RPCError as exc:
            status = 404 if exc.code == RPC_METHOD_NOT_FOUND else 500
            return status, {"result": None, "error": {"code": exc.code, "message": exc.message}, "id": request_id}
        except Exception as exc:  # a simulator bug must still answer like bitcoind, not hang up
            logger.exception("devnode bitcoind: %s failed", request.get("method"))
            return 500, {"result": None, "error": {"code": RPC_MISC_ERROR, "message": f"internal error: {exc}"}, "id": request_id}
        return 200, {"result": result, "error": None, "id": request_id}
