"""A synchronous bitcoind JSON-RPC client (cookie or user/password auth, wallet endpoints) with clear errors.

Why not the ``bitcoinrpc`` package of the design card: it is async-only (httpx.AsyncClient), and
every caller here is synchronous Django code (services, the watcher loop, django-q2 tasks); wrapping
each call in an event loop buys nothing, so it is not installed. This module is a small sync client
over ``httpx`` with the same wire format, plus what we need on top: amounts parsed as ``Decimal``
(never float), the cookie file re-read when bitcoind restarts, and every failure mapped to one of
the ``NodeError`` classes below so that callers can tell "node down" from "node said no".
"""
from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx

from flashpay.errors import ApplicationError
from flashpay.money import Msat

logger = logging.getLogger(__name__)

# bitcoind error codes we act upon (src/rpc/protocol.h)
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_ALREADY_LOADED = -35
RPC_WALLET_ALREADY_EXISTS = -4
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_VERIFY_ALREADY_IN_CHAIN = -27
RPC_INVALID_PARAMETER = -8


class NodeError(ApplicationError):
    """The Bitcoin node answered, but not with a usable result."""

    code = "node-error"
    status_code = 502


class NodeUnavailable(NodeError):
    """The Bitcoin node cannot be reached (refused, timed out, DNS)."""

    code = "node-unavailable"
    status_code = 503


class NodeAuthError(NodeError):
    """bitcoind refused our credentials (HTTP 401/403): wrong rpcuser/rpcpassword or a stale cookie."""

    code = "node-auth-failed"


class NodeRPCError(NodeError):
    """bitcoind returned a JSON-RPC error object; ``rpc_code`` is bitcoind's numeric code."""

    def __init__(self, method: str, rpc_code: int, rpc_message: str):
        super().__init__(f"bitcoind {method} failed: {rpc_message} (code {rpc_code})")
        self.method = method
        self.rpc_code = rpc_code
        self.rpc_message = rpc_message


class MalformedAnswer(NodeError):
    """The node's answer is not the JSON shape bitcoind sends."""

    code = "node-malformed-answer"


@dataclass(frozen=True)
class WalletTx:
    """One ``listsinceblock`` entry: an output (category receive) or spend of the wallet."""

    txid: str
    vout: int
    address: str | None
    category: str
    amount_msat: int
    confirmations: int
    block_hash: str | None
    block_height: int | None


@dataclass(frozen=True)
class SinceBlock:
    transactions: list[WalletTx]
    removed: list[WalletTx]
    lastblock: str


class BitcoindClient:
    """bitcoind over JSON-RPC. ``wallet`` selects the ``/wallet/<name>`` endpoint for wallet calls.

    Auth: ``rpcuser``/``rpcpassword``, or ``cookie_file`` (bitcoind's ``.cookie``, re-read on every
    401 because bitcoind rewrites it at each start).
    """

    def __init__(
        self,
        url: str,
        *,
        rpcuser: str | None = None,
        rpcpassword: str | None = None,
        cookie_file: str | Path | None = None,
        wallet: str | None = None,
        timeout: float = 15.0,
    ):
        if cookie_file is None and (rpcuser is None or rpcpassword is None):
            raise ValueError("Give rpcuser and rpcpassword, or cookie_file")
        self.url = url.rstrip("/")
        self.wallet = wallet
        self._rpcuser = rpcuser
        self._rpcpassword = rpcpassword
        self._cookie_file = Path(cookie_file) if cookie_file is not None else None
        self._cookie: tuple[str, str] | None = None
        self._ids = itertools.count(1)
        self._http = httpx.Client(timeout=timeout, headers={"Content-Type": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never show credentials
        return f"BitcoindClient({self.url!r}, wallet={self.wallet!r})"

    # ---------------------------------------------------------------- transport
    def _auth(self, *, reload: bool = False) -> tuple[str, str]:
        if self._cookie_file is None:
            return (self._rpcuser, self._rpcpassword)
        if self._cookie is None or reload:
            try:
                text = self._cookie_file.read_text().strip()
            except OSError as exc:
                raise NodeUnavailable(f"Cannot read bitcoind cookie file {self._cookie_file}: {exc.strerror}") from None
            user, sep, password = text.partition(":")
            if not sep:
                raise NodeAuthError(f"bitcoind cookie file {self._cookie_file} is not user:password")
            self._cookie = (user, password)
        return self._cookie

    def _post(self, payload, *, wallet: bool, timeout: float | None = None) -> httpx.Response:
        url = self.url
        if wallet and self.wallet is not None:
            url = f"{self.url}/wallet/{quote(self.wallet, safe='')}"
        body = json.dumps(payload)
        for attempt in (0, 1):
            try:
                response = self._http.post(
                    url, content=body, auth=self._auth(reload=attempt == 1),
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TimeoutException:
                raise NodeUnavailable(f"bitcoind at {self.url} did not answer in time") from None
            except httpx.HTTPError as exc:
                raise NodeUnavailable(f"bitcoind at {self.url} is unreachable: {exc.__class__.__name__}") from None
            if response.status_code in (401, 403):
                if self._cookie_file is not None and attempt == 0:
                    continue  # bitcoind restarted and wrote a new cookie
                raise NodeAuthError(f"bitcoind at {self.url} refused the credentials (HTTP {response.status_code})")
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _decode(response: httpx.Response, what: str):
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise MalformedAnswer(
                f"bitcoind {what}: HTTP {response.status_code} with a body that is not JSON"
            ) from None

    @staticmethod
    def _result(method: str, reply) -> object:
        if not isinstance(reply, dict) or "result" not in reply and "error" not in reply:
            raise MalformedAnswer(f"bitcoind {method}: the answer is not a JSON-RPC reply")
        error = reply.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise MalformedAnswer(f"bitcoind {method}: malformed error object")
            code = error.get("code")
            raise NodeRPCError(method, code if isinstance(code, int) else -1, str(error.get("message", "")))
        return reply.get("result")

    def call(self, method: str, *params, wallet: bool = False, timeout: float | None = None):
        """One RPC. ``wallet=True`` sends it to this client's wallet endpoint; ``timeout`` overrides the client's."""
        payload = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": _jsonable(params)}
        response = self._post(payload, wallet=wallet, timeout=timeout)
        if response.status_code not in (200, 404, 500):
            raise NodeError(f"bitcoind {method}: HTTP {response.status_code}")
        return self._result(method, self._decode(response, method))

    def batch(self, calls: list[tuple[str, tuple]], *, wallet: bool = False) -> list:
        """Several RPCs in one HTTP request; results in call order, the first error raised."""
        if not calls:
            return []
        payload = [
            {"jsonrpc": "1.0", "id": i, "method": method, "params": _jsonable(params)}
            for i, (method, params) in enumerate(calls)
        ]
        response = self._post(payload, wallet=wallet)
        if response.status_code != 200:
            raise NodeError(f"bitcoind batch: HTTP {response.status_code}")
        replies = self._decode(response, "batch")
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise MalformedAnswer("bitcoind batch: the answer is not one reply per call")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        if len(by_id) != len(calls):
            raise MalformedAnswer("bitcoind batch: replies do not match the calls")
        return [self._result(method, by_id.get(i)) for i, (method, _p) in enumerate(calls)]

    # ---------------------------------------------------------------- chain
    def get_blockchain_info(self) -> dict:
        return _expect(self.call("getblockchaininfo"), dict, "getblockchaininfo")

    def get_block_count(self) -> int:
        return _expect(self.call("getblockcount"), int, "getblockcount")

    def get_best_block_hash(self) -> str:
        return _hash(self.call("getbestblockhash"), "getbestblockhash")

    def get_block_hash(self, height: int) -> str:
        return _hash(self.call("getblockhash", height), "getblockhash")

    def get_block_header(self, block_hash: str) -> dict:
        header = _expect(self.call("getblockheader", block_hash, True), dict, "getblockheader")
        _expect(header.get("height"), int, "getblockheader.height")
        return header

    def get_block(self, block_hash: str, verbosity: int = 1):
        return self.call("getblock", block_hash, verbosity)

    def get_raw_transaction(self, txid: str, verbose: bool = False):
        return self.call("getrawtransaction", txid, verbose)

    def estimate_fee_sat_vb(self, conf_target: int) -> Decimal | None:
        """Fee rate in sat/vB for confirmation within ``conf_target`` blocks; None when the node has no estimate."""
        reply = _expect(self.call("estimatesmartfee", conf_target), dict, "estimatesmartfee")
        feerate = reply.get("feerate")
        if feerate is None:
            return None  # bitcoind: {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
        if not isinstance(feerate, Decimal | int) or feerate <= 0:
            raise MalformedAnswer("bitcoind estimatesmartfee: feerate is not a positive number")
        return (Decimal(feerate) * 100_000_000 / 1000).quantize(Decimal("0.001"))  # BTC/kvB -> sat/vB

    def send_raw_transaction(self, tx_hex: str) -> str:
        """Broadcast; a transaction already confirmed counts as sent (idempotent rebroadcast).

        NodeUnavailable here means "outcome unknown" (the node may have it): broadcast the same
        hex again later, never a new transaction for the same payout.
        """
        from embit.transaction import Transaction

        try:
            return _hash(self.call("sendrawtransaction", tx_hex), "sendrawtransaction")
        except NodeRPCError as exc:
            if exc.rpc_code == RPC_VERIFY_ALREADY_IN_CHAIN:
                return Transaction.parse(bytes.fromhex(tx_hex)).txid().hex()
            raise

    # ---------------------------------------------------------------- wallet
    def ensure_watch_only_wallet(self) -> bool:
        """Load this client's wallet, or create it as a blank watch-only descriptor wallet (True if created)."""
        if not self.wallet:
            raise ValueError("This client has no wallet name")
        loaded = _expect(self.call("listwallets"), list, "listwallets")
        if self.wallet in loaded:
            return False
        try:
            self.call("loadwallet", self.wallet)
            return False
        except NodeRPCError as exc:
            if exc.rpc_code == RPC_WALLET_ALREADY_LOADED:
                return False
            if exc.rpc_code not in (RPC_WALLET_NOT_FOUND, RPC_WALLET_ALREADY_EXISTS):
                raise
        # createwallet name disable_private_keys blank passphrase avoid_reuse descriptors
        self.call("createwallet", self.wallet, True, True, "", False, True)
        return True

    def get_descriptor_info(self, descriptor: str) -> dict:
        return _expect(self.call("getdescriptorinfo", descriptor), dict, "getdescriptorinfo")

    def derive_addresses(self, descriptor: str, start: int, end: int) -> list[str]:
        return _expect(self.call("deriveaddresses", descriptor, [start, end]), list, "deriveaddresses")

    def import_descriptors(self, requests: list[dict], *, timeout: float = 600.0) -> None:
        """importdescriptors; raises NodeRPCError for the first request bitcoind refused."""
        # bitcoind answers only when the import (and any rescan) is done: allow minutes, not seconds.
        results = _expect(
            self.call("importdescriptors", requests, wallet=True, timeout=timeout), list, "importdescriptors"
        )
        if len(results) != len(requests):
            raise MalformedAnswer("bitcoind importdescriptors: not one result per descriptor")
        for result in results:
            if not isinstance(result, dict) or not result.get("success"):
                error = (result or {}).get("error") or {}
                raise NodeRPCError("importdescriptors", error.get("code", -1), error.get("message", "import failed"))

    def list_since_block(self, block_hash: str | None, *, target_confirmations: int = 1) -> SinceBlock:
        reply = _expect(
            self.call("listsinceblock", block_hash or "", target_confirmations, True, True, wallet=True),
            dict,
            "listsinceblock",
        )
        try:
            transactions = [_wallet_tx(e) for e in reply["transactions"]]
            removed = [_wallet_tx(e) for e in reply.get("removed", [])]
            lastblock = _hash(reply["lastblock"], "listsinceblock.lastblock")
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise MalformedAnswer("bitcoind listsinceblock: unexpected answer shape") from None
        return SinceBlock(transactions=transactions, removed=removed, lastblock=lastblock)

    def get_transaction(self, txid: str) -> dict:
        return _expect(self.call("gettransaction", txid, True, wallet=True), dict, "gettransaction")

    def wallet_create_funded_psbt(
        self, outputs: list[dict[str, Decimal]], *, fee_rate_sat_vb: Decimal | int | None = None,
        change_address: str | None = None,
    ) -> dict:
        """An unsigned funded PSBT (base64) from the watch-only wallet; sign it on the hardware wallet."""
        options: dict = {}
        if fee_rate_sat_vb is not None:
            options["fee_rate"] = fee_rate_sat_vb
        if change_address is not None:
            options["changeAddress"] = change_address
        reply = _expect(
            self.call("walletcreatefundedpsbt", [], outputs, 0, options, True, wallet=True),
            dict,
            "walletcreatefundedpsbt",
        )
        _expect(reply.get("psbt"), str, "walletcreatefundedpsbt.psbt")
        return reply

    # ---------------------------------------------------------------- regtest tools
    def get_new_address(self) -> str:
        return _expect(self.call("getnewaddress", wallet=True), str, "getnewaddress")

    def generate_to_address(self, nblocks: int, address: str) -> list[str]:
        return _expect(self.call("generatetoaddress", nblocks, address), list, "generatetoaddress")

    def send_to_address(self, address: str, amount_btc: Decimal) -> str:
        return _hash(self.call("sendtoaddress", address, amount_btc, wallet=True), "sendtoaddress")

    def invalidate_block(self, block_hash: str) -> None:
        self.call("invalidateblock", block_hash)


def _jsonable(value):
    """Decimals go out as strings, which bitcoind takes for amounts (AmountFromValue), keeping every digit."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        raise TypeError("Refusing to send a float amount to bitcoind; use Decimal")
    return value


def _expect(value, kind, what: str):
    if isinstance(value, bool) and kind is int or not isinstance(value, kind):
        raise MalformedAnswer(f"bitcoind {what}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _hash(value, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise MalformedAnswer(f"bitcoind {what}: not a 32-byte hex hash")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise MalformedAnswer(f"bitcoind {what}: not a hex hash") from None
    return value


def _wallet_tx(entry: dict) -> WalletTx:
    amount = entry["amount"]
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError("amount")
    vout = entry["vout"]
    confirmations = entry["confirmations"]
    if not isinstance(vout, int) or not isinstance(confirmations, int):
        raise TypeError("vout/confirmations")
    height = entry.get("blockheight")
    if confirmations > 0:
        _hash(entry.get("blockhash"), "listsinceblock.blockhash")  # a confirmed entry names its block
    return WalletTx(
        txid=_hash(entry["txid"], "listsinceblock.txid"),
        vout=vout,
        address=entry.get("address"),
        category=str(entry["category"]),
        amount_msat=Msat.from_btc(Decimal(amount)).value,
        confirmations=confirmations,
        block_hash=entry.get("blockhash") if confirmations > 0 else None,
        block_height=height if isinstance(height, int) and confirmations > 0 else None,
    )
