"""Store wallet descriptors: parse xpub/ypub/zpub or output descriptors, check the network, derive addresses.

A store's on-chain wallet is watch-only: we accept extended *public* keys only and refuse anything
that carries a private key, so no merchant secret ever reaches our database.

Accepted input (what BTCPay's "derivation scheme" field takes, in descriptor form):

* a bare extended public key, SLIP-132 version bytes deciding the script type:
  ``zpub``/``vpub`` -> ``wpkh`` (BIP84), ``ypub``/``upub`` -> ``sh(wpkh)`` (BIP49),
  ``xpub``/``tpub`` -> ``wpkh`` (BTCPay's default for a bare xpub; SLIP-132 leaves xpub's script
  type open and native segwit is what every current wallet exports). The receive branch is ``/0/*``.
* an output descriptor (BIP380-386): ``wpkh(KEY)``, ``sh(wpkh(KEY))``, ``tr(KEY)`` (BIP86 key
  path only), ``wsh(sortedmulti(k,KEY,...))`` and ``sh(wsh(sortedmulti(...)))``, with or without
  the BIP380 checksum (checked when present). Keys must be ranged (``.../*``, unhardened).

The canonical form we store and hand to bitcoind uses the plain ``xpub``/``tpub`` version bytes
(bitcoind refuses SLIP-132 prefixes inside descriptors) and always carries its checksum.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from embit import bip32
from embit.descriptor import Descriptor
from embit.descriptor.checksum import checksum as _embit_checksum
from embit.networks import NETWORKS
from embit.script import address_to_scriptpubkey

from flashpay.errors import ApplicationError

# Our network names are bitcoind's (getblockchaininfo "chain"); embit calls mainnet "main".
NETWORK_NAMES = {"main": "main", "mainnet": "main", "test": "test", "testnet": "test",
                 "testnet4": "test", "signet": "signet", "regtest": "regtest"}


class DescriptorError(ApplicationError):
    """A wallet descriptor or extended key we cannot (or must not) use."""

    code = "invalid-descriptor"
    status_code = 400


class AddressError(ApplicationError):
    """An address that does not parse or belongs to another network."""

    code = "invalid-address"
    status_code = 400


@dataclass(frozen=True)
class StoreDescriptor:
    descriptor: str  # canonical, with "#checksum"
    network: str  # bitcoind chain name: main, test, signet, regtest
    script_type: str  # wpkh, sh-wpkh, tr, wsh-sortedmulti, sh-wsh-sortedmulti

    @property
    def checksum(self) -> str:
        return self.descriptor.rsplit("#", 1)[1]

    def address(self, index: int) -> str:
        return derive_address(self.descriptor, index, network=self.network)


def _net(network: str) -> dict:
    try:
        return NETWORKS[NETWORK_NAMES[network]]
    except KeyError:
        raise DescriptorError(f"Unknown network {network!r}") from None


def descriptor_checksum(descriptor: str) -> str:
    """The BIP380 checksum of a descriptor given without its ``#checksum``."""
    return _embit_checksum(descriptor.split("#", 1)[0])


def _split_checksum(text: str) -> str:
    """Strip and verify a BIP380 checksum if one is present."""
    if "#" not in text:
        return text
    body, given = text.rsplit("#", 1)
    try:
        expected = _embit_checksum(body)
    except Exception:
        raise DescriptorError("The descriptor contains characters a descriptor cannot have") from None
    if given != expected:
        raise DescriptorError(f"Descriptor checksum mismatch: got {given}, expected {expected}")
    return body


# SLIP-132 version bytes -> (script type, is mainnet). Multisig Ypub/Zpub describe one cosigner
# only, so a bare one is not a wallet: they must come inside a wsh(sortedmulti(...)) descriptor.
def _slip132_table() -> dict[bytes, tuple[str, str]]:
    table: dict[bytes, tuple[str, str]] = {}
    for family in ("main", "test"):
        net = NETWORKS[family]
        table[net["xpub"]] = ("wpkh", family)
        table[net["zpub"]] = ("wpkh", family)
        table[net["ypub"]] = ("sh-wpkh", family)
        table[net["Zpub"]] = ("multisig", family)
        table[net["Ypub"]] = ("multisig", family)
        for private in ("xprv", "yprv", "zprv", "Yprv", "Zprv"):
            table[net[private]] = ("private", family)
    return table


_SLIP132 = _slip132_table()


def _check_key_network(hdkey: bip32.HDKey, network: str) -> None:
    kind, family = _SLIP132.get(hdkey.version, (None, None))
    if kind is None:
        raise DescriptorError("Unknown extended key version bytes")
    if kind == "private":
        raise DescriptorError(
            "This is a private key (xprv). Give the extended PUBLIC key: FlashPay wallets are watch-only"
        )
    wanted = "main" if NETWORK_NAMES[network] == "main" else "test"
    if family != wanted:
        label = "mainnet" if family == "main" else "testnet/signet/regtest"
        raise DescriptorError(f"This key is for {label}, but this server runs on {network}")


def _canonical_key(hdkey: bip32.HDKey, network: str) -> None:
    """Rewrite the version bytes to plain xpub/tpub (in place) after the network check."""
    _check_key_network(hdkey, network)
    hdkey.version = _net(network)["xpub"]


def parse_store_wallet(text: str, *, network: str) -> StoreDescriptor:
    """Parse what a merchant pastes (extended key or descriptor) into a canonical descriptor."""
    _net(network)  # refuse an unknown network name before anything else
    text = (text or "").strip()
    if not text:
        raise DescriptorError("A wallet descriptor or extended public key is required")
    if "(" not in text:
        return _from_bare_key(text, network)
    body = _split_checksum(text)
    try:
        desc = Descriptor.from_string(body)
    except Exception as exc:
        raise DescriptorError(f"Not a valid output descriptor: {exc}") from None

    if desc.taproot:
        if desc.taptree and desc.taptree.keys:
            raise DescriptorError("Taproot script trees are not supported; use tr(KEY) (BIP86)")
        script_type = "tr"
    elif desc.miniscript is not None:
        if not desc.is_basic_multisig or not desc.is_sorted or not desc.wsh:
            raise DescriptorError("Only wsh(sortedmulti(...)) multisig descriptors are supported")
        script_type = "sh-wsh-sortedmulti" if desc.sh else "wsh-sortedmulti"
    elif desc.wpkh:
        script_type = "sh-wpkh" if desc.sh else "wpkh"
    else:
        raise DescriptorError("Legacy pkh() wallets are not supported; use wpkh, sh(wpkh), tr or wsh(sortedmulti)")

    for key in desc.keys:
        if not key.is_extended:
            raise DescriptorError("Every key must be an extended public key (xpub/tpub)")
        if key.is_private:
            raise DescriptorError(
                "The descriptor contains a private key. Give the public descriptor: FlashPay wallets are watch-only"
            )
        if not key.is_wildcard:
            raise DescriptorError("The descriptor must be ranged: end each key with /0/* (or /*)")
        if key.allowed_derivation.has_hardend:
            raise DescriptorError("Hardened derivation after an xpub is impossible; use unhardened steps")
        if key.num_branches != 1:
            raise DescriptorError("Multipath <0;1> descriptors are not supported; give the receive branch")
        _canonical_key(key.key, network)
    canonical = desc.to_string()
    return StoreDescriptor(
        descriptor=f"{canonical}#{_embit_checksum(canonical)}",
        network=network,
        script_type=script_type,
    )


def _from_bare_key(text: str, network: str) -> StoreDescriptor:
    try:
        hdkey = bip32.HDKey.from_string(text)
    except Exception:
        raise DescriptorError("Not an extended public key (xpub/ypub/zpub) nor an output descriptor") from None
    kind, _family = _SLIP132.get(hdkey.version, (None, None))
    if kind == "multisig":
        raise DescriptorError(
            "A Ypub/Zpub is one cosigner of a multisig wallet; give the wsh(sortedmulti(...)) descriptor"
        )
    _canonical_key(hdkey, network)
    key = hdkey.to_base58()
    if kind == "sh-wpkh":
        body, script_type = f"sh(wpkh({key}/0/*))", "sh-wpkh"
    else:
        body, script_type = f"wpkh({key}/0/*)", "wpkh"
    return StoreDescriptor(
        descriptor=f"{body}#{_embit_checksum(body)}", network=network, script_type=script_type
    )


@lru_cache(maxsize=256)
def _parsed(descriptor: str) -> Descriptor:
    return Descriptor.from_string(descriptor.split("#", 1)[0])


def derive_address(descriptor: str, index: int, *, network: str) -> str:
    """The address at ``index`` of a ranged descriptor (receive branch), for ``network``."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2**31:
        raise DescriptorError("Derivation index must be an integer in [0, 2^31)")
    try:
        desc = _parsed(descriptor)
    except Exception as exc:
        raise DescriptorError(f"Not a valid output descriptor: {exc}") from None
    return desc.derive(index).address(_net(network))


def address_script(address: str, *, network: str) -> bytes:
    """scriptPubKey of ``address``, refusing addresses of another network."""
    net = _net(network)
    address = (address or "").strip()
    try:
        # bech32 may be written all upper-case (BIP173, for QR codes); embit wants lower-case.
        script = address_to_scriptpubkey(address.lower() if address.isupper() else address)
    except Exception:
        raise AddressError(f"Invalid Bitcoin address: {address!r}") from None
    # Re-encoding for the wanted network must give back the same text, or the address was
    # for another network (bc1 vs bcrt1, 1/3 vs m/n/2).
    try:
        same = script.address(net)
    except Exception:
        same = None
    if same is None or same not in (address, address.lower()):
        raise AddressError(f"{address} is not a {network} address")
    return script.data
