"""Store wallet parsing and address derivation: BIP vectors, SLIP-132 script types, network checks."""
import pytest
from embit import bip32, bip39
from embit.networks import NETWORKS

from invoices.onchain.descriptors import (
    AddressError,
    DescriptorError,
    address_script,
    derive_address,
    descriptor_checksum,
    parse_store_wallet,
)

# BIP84 / BIP49 / BIP86 test vectors: mnemonic "abandon ... about", account 0, first receive address.
BIP84_ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
BIP84_ADDRESSES = ["bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"]
BIP49_YPUB = "ypub6Ww3ibxVfGzLrAH1PNcjyAWenMTbbAosGNB6VvmSEgytSER9azLDWCxoJwW7Ke7icmizBMXrzBx9979FfaHxHcrArf3zbeJJJUZPf663zsP"
BIP49_ADDRESS = "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"
BIP86_XPUB = "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
BIP86_ADDRESS = "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"


def _root():
    return bip32.HDKey.from_seed(bip39.mnemonic_to_seed("abandon " * 11 + "about"))


def test_bip84_zpub_is_native_segwit_and_derives_the_bip_vector():
    wallet = parse_store_wallet(BIP84_ZPUB, network="main")

    assert wallet.script_type == "wpkh"
    assert wallet.descriptor.startswith("wpkh(xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V/0/*)#")
    assert [wallet.address(0), wallet.address(1)] == BIP84_ADDRESSES


def test_bip49_ypub_is_wrapped_segwit():
    wallet = parse_store_wallet(BIP49_YPUB, network="main")

    assert wallet.script_type == "sh-wpkh"
    assert wallet.descriptor.startswith("sh(wpkh(xpub")
    assert wallet.address(0) == BIP49_ADDRESS


def test_bip86_taproot_descriptor_with_origin_and_checksum():
    body = f"tr([73c5da0a/86h/0h/0h]{BIP86_XPUB}/0/*)"
    wallet = parse_store_wallet(f"{body}#{descriptor_checksum(body)}", network="main")

    assert wallet.script_type == "tr"
    assert wallet.address(0) == BIP86_ADDRESS


def test_bare_xpub_defaults_to_native_segwit_like_btcpay():
    xpub = _root().derive("m/84h/0h/0h").to_public().to_string()

    wallet = parse_store_wallet(xpub, network="main")

    assert wallet.address(0) == BIP84_ADDRESSES[0]


def test_sortedmulti_address_is_independent_of_key_order():
    root = _root()
    other = bip32.HDKey.from_seed(b"\x01" * 32)
    keys = [k.derive("m/48h/1h/0h/2h").to_public().to_string(version=NETWORKS["test"]["xpub"]) for k in (root, other)]

    one = parse_store_wallet(f"wsh(sortedmulti(2,{keys[0]}/0/*,{keys[1]}/0/*))", network="regtest")
    two = parse_store_wallet(f"wsh(sortedmulti(2,{keys[1]}/0/*,{keys[0]}/0/*))", network="regtest")

    assert one.script_type == "wsh-sortedmulti"
    assert one.address(5) == two.address(5)
    assert one.address(0).startswith("bcrt1q") and len(one.address(0)) == 64  # P2WSH: 32-byte program


def test_regtest_zpub_gives_regtest_addresses():
    vpub = _root().derive("m/84h/1h/0h").to_public().to_string(version=NETWORKS["test"]["zpub"])

    wallet = parse_store_wallet(vpub, network="regtest")

    assert wallet.descriptor.startswith("wpkh(tpub")
    assert wallet.address(0).startswith("bcrt1q")
    assert parse_store_wallet(vpub, network="testnet").address(0).startswith("tb1q")


@pytest.mark.parametrize("network", ["regtest", "testnet", "signet"])
def test_mainnet_key_refused_on_test_networks(network):
    with pytest.raises(DescriptorError, match="mainnet"):
        parse_store_wallet(BIP84_ZPUB, network=network)


def test_testnet_key_refused_on_mainnet_also_inside_a_descriptor():
    tpub = _root().derive("m/84h/1h/0h").to_public().to_string(version=NETWORKS["test"]["xpub"])

    with pytest.raises(DescriptorError, match="testnet"):
        parse_store_wallet(f"wpkh({tpub}/0/*)", network="main")


def test_private_keys_are_refused():
    xprv = _root().derive("m/84h/0h/0h").to_string()

    with pytest.raises(DescriptorError, match="private"):
        parse_store_wallet(xprv, network="main")
    with pytest.raises(DescriptorError, match="private"):
        parse_store_wallet(f"wpkh({xprv}/0/*)", network="main")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "required"),
        ("hello", "Not an extended public key"),
        (f"wpkh({BIP86_XPUB}/0/*)#abcdefgh", "checksum mismatch"),
        (f"wpkh({BIP86_XPUB}/0/0)", "ranged"),
        (f"pkh({BIP86_XPUB}/0/*)", "pkh"),
        (f"wsh(multi(1,{BIP86_XPUB}/0/*))", "sortedmulti"),
        ("wpkh(", "Not a valid output descriptor"),
    ],
)
def test_bad_descriptors_get_clear_errors(text, message):
    with pytest.raises(DescriptorError, match=message):
        parse_store_wallet(text, network="main")


def test_checksum_matches_bitcoind_vector():
    # From bitcoind's descriptor docs (doc/descriptors.md): addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)#02wpgw69
    assert descriptor_checksum("addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)") == "02wpgw69"


def test_derive_refuses_bad_index():
    wallet = parse_store_wallet(BIP84_ZPUB, network="main")
    with pytest.raises(DescriptorError):
        derive_address(wallet.descriptor, -1, network="main")
    with pytest.raises(DescriptorError):
        derive_address(wallet.descriptor, 2**31, network="main")


def test_address_network_check():
    assert address_script(BIP84_ADDRESSES[0], network="main").hex().startswith("0014")
    assert address_script(BIP84_ADDRESSES[0].upper(), network="main")
    with pytest.raises(AddressError, match="not a regtest address"):
        address_script(BIP84_ADDRESSES[0], network="regtest")
    with pytest.raises(AddressError, match="Invalid"):
        address_script("bc1qnotanaddress", network="main")
