"""The one payment method id parser: every spelling BTCPay 2.x's PaymentMethodId.TryParse accepts."""
import pytest

from flashpay.payment_method_ids import PaymentMethodId, payment_method_id_parse

CHAIN, LN, LNURL = PaymentMethodId.BTC_CHAIN, PaymentMethodId.BTC_LN, PaymentMethodId.BTC_LNURL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the 2.x ids, and the "_" spelling the WooCommerce plugin sends
        ("BTC-CHAIN", CHAIN), ("BTC_CHAIN", CHAIN), ("BTC-LN", LN), ("BTC_LN", LN),
        ("BTC-LNURL", LNURL), ("BTC_LNURL", LNURL),
        # a crypto code alone is on-chain
        ("BTC", CHAIN), ("btc", CHAIN),
        # 1.x names
        ("BTC-OnChain", CHAIN), ("BTC_OnChain", CHAIN), ("BTC-BitcoinLike", CHAIN), ("BTC_BTCLike", CHAIN),
        ("BTC-LightningNetwork", LN), ("BTC_LightningLike", LN), ("BTC-LightningLike", LN), ("BTC-OffChain", LN),
        ("BTC-LNURLPAY", LNURL), ("BTC_LNURLPAY", LNURL), ("BTC-LNURLPay", LNURL),
        # separators repeat and surround, whitespace is trimmed, case does not matter
        ("_BTC__CHAIN_", CHAIN), ("  BTC-LN ", LN), ("btc-ln", LN), ("Btc_LightningNetwork", LN),
    ],
)
def test_every_btcpay_spelling_gives_the_canonical_id(text, expected):
    assert payment_method_id_parse(text) == expected
    assert payment_method_id_parse(text).value == expected.value


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "-", "LN", "CHAIN", "XMR", "LTC-CHAIN", "LTC_LightningLike",
        "BTC-XYZ", "BTC-LN-X", "BTC-on-chain", "BTC-LN" * 30, None, 12, ["BTC-LN"],
    ],
)
def test_anything_else_is_unknown(text):
    assert payment_method_id_parse(text) is None
