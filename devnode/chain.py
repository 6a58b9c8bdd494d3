"""Regtest chain primitives for the bitcoind simulator: hashes, blocks, coinbases, amounts, JSON."""
from __future__ import annotations

import hashlib
import json
import struct
from decimal import Decimal

from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput

SAT_PER_BTC = 100_000_000
COINBASE_MATURITY = 100  # consensus/consensus.h
REGTEST_HALVING_INTERVAL = 150  # chainparams.cpp, regtest
REGTEST_BITS = 0x207FFFFF  # regtest powLimit in compact form
REGTEST_GENESIS_TIME = 1296688602  # the regtest genesis block's nTime


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_hex(digest: bytes) -> str:
    """Bitcoin shows hashes byte-reversed (little-endian integer printed big-endian)."""
    return digest[::-1].hex()


def merkle_root(txids_hex: list[str]) -> str:
    """Merkle root over txids, duplicating the last hash on odd levels (BIP-less consensus rule)."""
    level = [bytes.fromhex(t)[::-1] for t in txids_hex]
    if not level:
        return "00" * 32
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return hash_hex(level[0])


def block_subsidy(height: int) -> int:
    halvings = height // REGTEST_HALVING_INTERVAL
    return 0 if halvings >= 64 else (50 * SAT_PER_BTC) >> halvings


def target_from_bits(bits: int) -> int:
    exponent, mantissa = bits >> 24, bits & 0xFFFFFF
    return mantissa << (8 * (exponent - 3))


def header_bytes(version: int, prev: str, merkle: str, time: int, bits: int, nonce: int) -> bytes:
    return struct.pack(
        "<i32s32sIII", version, bytes.fromhex(prev)[::-1], bytes.fromhex(merkle)[::-1], time, bits, nonce
    )


def mine_header(prev: str, merkle: str, time: int) -> tuple[str, int, str]:
    """Grind the nonce until the header meets regtest's (trivial) target: (hash, nonce, header hex)."""
    target = target_from_bits(REGTEST_BITS)
    nonce = 0
    while True:
        raw = header_bytes(0x20000000, prev, merkle, time, REGTEST_BITS, nonce)
        digest = sha256d(raw)
        if int.from_bytes(digest, "little") <= target:
            return hash_hex(digest), nonce, raw.hex()
        nonce += 1


def coinbase_tx(height: int, script_pubkey: bytes, value: int) -> Transaction:
    # BIP34: the coinbase scriptSig starts with the block height as a minimally encoded push.
    height_bytes = height.to_bytes((height.bit_length() + 8) // 8, "little") if height else b""
    script_sig = bytes([len(height_bytes)]) + height_bytes + b"\x00" if height > 16 or height == 0 else bytes([0x50 + height, 0x00])
    tx_in = TransactionInput(b"\x00" * 32, 0xFFFFFFFF, Script(script_sig), 0xFFFFFFFF)
    return Transaction(version=2, vin=[tx_in], vout=[TransactionOutput(value, Script(script_pubkey))], locktime=0)


def btc(sats: int) -> Decimal:
    """An amount in BTC as bitcoind prints it: exactly 8 decimals."""
    return (Decimal(sats) / SAT_PER_BTC).quantize(Decimal("0.00000001"))


def sats_from_btc(value) -> int:
    """Parse an RPC amount (number or string, BTC) into satoshis; refuses sub-satoshi precision."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("Amount is not a number or string")
    amount = Decimal(str(value)) * SAT_PER_BTC
    if amount != amount.to_integral_value():
        raise ValueError("Invalid amount")
    return int(amount)


def dumps(value) -> bytes:
    """JSON with Decimal amounts written as exact numbers (as bitcoind's UniValue does)."""
    parts: list[str] = []

    def write(v):
        if isinstance(v, Decimal):
            parts.append(format(v, "f"))
        elif isinstance(v, dict):
            parts.append("{")
            for i, (k, item) in enumerate(v.items()):
                if i:
                    parts.append(",")
                parts.append(json.dumps(str(k)))
                parts.append(":")
                write(item)
            parts.append("}")
        elif isinstance(v, list | tuple):
            parts.append("[")
            for i, item in enumerate(v):
                if i:
                    parts.append(",")
                write(item)
            parts.append("]")
        else:
            parts.append(json.dumps(v))

    write(value)
    return "".join(parts).encode()
