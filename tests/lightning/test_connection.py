"""BTCPay-style Lightning connection strings: parsing and clear errors."""
import pytest

from lightning.connection import (
    ClnConfig,
    LndGrpcConfig,
    parse_connection_string,
)
from lightning.errors import ConnectionStringError


def test_lnd_grpc_with_files():
    config = parse_connection_string(
        "type=lnd-grpc;server=127.0.0.1:10009;macaroonfilepath=/x/admin.macaroon;certpath=/x/tls.cert;"
    )
    assert config == LndGrpcConfig(
        server="127.0.0.1:10009",
        macaroon_hex=None,
        macaroon_path="/x/admin.macaroon",
        cert_path="/x/tls.cert",
        cert_thumbprint=None,
    )


def test_lnd_grpc_with_hex_macaroon_and_thumbprint_and_scheme():
    config = parse_connection_string(
        "TYPE=lnd-grpc; server=https://node.example.com:10009 ;macaroon=0201abcd;certthumbprint=" + "AB:" * 31 + "AB"
    )
    assert config.server == "node.example.com:10009"
    assert config.macaroon_hex == "0201abcd"
    assert config.cert_thumbprint is not None


def test_clightning_unix_and_tcp():
    assert parse_connection_string("type=clightning;server=unix:///root/.lightning/lightning-rpc") == ClnConfig(
        socket_path="/root/.lightning/lightning-rpc", host=None, port=None
    )
    assert parse_connection_string("type=clightning;server=tcp://127.0.0.1:9835") == ClnConfig(
        socket_path=None, host="127.0.0.1", port=9835
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("server=127.0.0.1:10009", "no type"),
        ("type=lnd-rest;server=https://x", "unsupported Lightning type"),
        ("type=lnd-grpc", "needs server"),
        ("type=lnd-grpc;server=127.0.0.1", "host:port"),
        ("type=lnd-grpc;server=127.0.0.1:99999;macaroon=00", "host:port"),
        ("type=lnd-grpc;server=http://127.0.0.1:10009;macaroon=00", "TLS"),
        ("type=lnd-grpc;server=127.0.0.1:10009", "macaroon"),
        ("type=lnd-grpc;server=127.0.0.1:10009;macaroon=zz", "hex"),
        ("type=lnd-grpc;server=127.0.0.1:10009;macaroon=00;macaroonfilepath=/m", "exactly one"),
        ("type=lnd-grpc;server=127.0.0.1:10009;macaroon=00;certthumbprint=abc", "thumbprint"),
        ("type=lnd-grpc;server=127.0.0.1:10009;macaroon=00;certpath=/c;certthumbprint=" + "0" * 64, "not both"),
        ("type=lnd-grpc;server=127.0.0.1:10009;macaroon=00;colour=blue", "unknown key"),
        ("type=lnd-grpc;server=a:1;server=b:2;macaroon=00", "twice"),
        ("type=lnd-grpc;server 127.0.0.1:10009", "key=value"),
        ("type=clightning;server=/tmp/rpc", "unix://"),
        ("type=clightning;server=unix://", "socket path"),
    ],
)
def test_malformed_strings_are_clear_errors(text, message):
    with pytest.raises(ConnectionStringError, match=message) as error:
        parse_connection_string(text)
    assert error.value.status_code == 400
