"""lightning.clients: the one place that builds node clients from connection strings, and shares them."""
import pytest

from lightning.backends.cln import ClnBackend
from lightning.backends.lnd import LndBackend
from lightning.clients import (
    lightning_client_open,
    lightning_clients_forget,
    server_node_client,
    store_node_client,
)
from lightning.errors import ConnectionStringError


@pytest.fixture(autouse=True)
def _forget():
    lightning_clients_forget()
    yield
    lightning_clients_forget()


def test_backend_reads_macaroon_and_cert_files(tmp_path):
    (tmp_path / "admin.macaroon").write_bytes(b"\x02\x01secret")
    (tmp_path / "tls.cert").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")

    backend = lightning_client_open(
        connection_string=f"type=lnd-grpc;server=127.0.0.1:10009;macaroonfilepath={tmp_path / 'admin.macaroon'};"
        f"certpath={tmp_path / 'tls.cert'}"
    )

    assert isinstance(backend, LndBackend)
    assert "secret" not in repr(backend)


def test_missing_or_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ConnectionStringError, match="macaroon file"):
        lightning_client_open(connection_string=f"type=lnd-grpc;server=127.0.0.1:10009;macaroonfilepath={tmp_path / 'nope'}")
    (tmp_path / "tls.cert").write_text("not a certificate")
    with pytest.raises(ConnectionStringError, match="not a PEM"):
        lightning_client_open(
            connection_string=f"type=lnd-grpc;server=127.0.0.1:10009;macaroon=00;certpath={tmp_path / 'tls.cert'}"
        )


def test_clightning_builds_a_cln_backend():
    assert isinstance(lightning_client_open(connection_string="type=clightning;server=unix:///tmp/x"), ClnBackend)


def test_settings_default_points_at_the_running_devnode(settings, lnd_network):
    settings.LIGHTNING_CONNECTION_STRING = lnd_network.connection_string("flashpay")

    backend = lightning_client_open()
    try:
        assert backend.node_info().pubkey == lnd_network.nodes["flashpay"].pubkey
    finally:
        backend.close()


def test_the_server_node_client_is_shared_until_forgotten(settings, lnd_network):
    settings.LIGHTNING_CONNECTION_STRING = lnd_network.connection_string("flashpay")

    first = server_node_client()

    # the same client for every caller, also when asked by the same connection string as a store's
    assert server_node_client() is first
    assert store_node_client(connection_string=settings.LIGHTNING_CONNECTION_STRING) is first
    assert first.node_info().pubkey == lnd_network.nodes["flashpay"].pubkey
    # a private client is never the shared one
    private = lightning_client_open()
    assert private is not first
    private.close()
    # forgotten: the next caller gets a new client from the settings of the moment
    lightning_clients_forget()
    settings.LIGHTNING_CONNECTION_STRING = lnd_network.connection_string("external")
    second = server_node_client()
    assert second is not first
    assert second.node_info().pubkey == lnd_network.nodes["external"].pubkey


def test_each_store_node_gets_its_own_client(lnd_network):
    ours = store_node_client(connection_string=lnd_network.connection_string("flashpay"))
    theirs = store_node_client(connection_string=lnd_network.connection_string("external"))

    assert ours is not theirs
    assert store_node_client(connection_string=lnd_network.connection_string("external")) is theirs
    assert theirs.node_info().pubkey == lnd_network.nodes["external"].pubkey


def test_a_bad_store_connection_string_is_a_clear_error_and_caches_nothing():
    with pytest.raises(ConnectionStringError):
        store_node_client(connection_string="type=lnd-grpc;server=127.0.0.1:10009")
    with pytest.raises(ConnectionStringError):
        store_node_client(connection_string="type=lnd-grpc;server=127.0.0.1:10009")
