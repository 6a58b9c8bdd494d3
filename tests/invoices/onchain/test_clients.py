"""invoices.onchain.clients: the one factory of bitcoind clients, from the BITCOIND_* settings."""
from devnode.bitcoind import BitcoindSimulator
from invoices.onchain.clients import bitcoind_client, bitcoind_client_open, bitcoind_clients_forget


def test_client_from_settings_finds_the_devnode_by_its_cookie(tmp_path, settings):
    node = BitcoindSimulator(port=0, datadir=tmp_path / "devnode").start()
    try:
        settings.BITCOIND_URL = node.url
        settings.BITCOIND_RPCUSER = settings.BITCOIND_RPCPASSWORD = ""
        settings.BITCOIND_COOKIE_FILE = str(tmp_path / "devnode" / ".cookie")
        settings.BITCOIND_WALLET = "flashpay"
        client = bitcoind_client_open()
        assert client.ensure_watch_only_wallet() is True
        assert client.call("getwalletinfo", wallet=True)["private_keys_enabled"] is False
        client.close()
    finally:
        node.stop()


def test_the_watch_only_client_is_shared_per_configuration(settings, bitcoind):
    settings.BITCOIND_URL = bitcoind.url
    settings.BITCOIND_RPCUSER = bitcoind.rpcuser
    settings.BITCOIND_RPCPASSWORD = bitcoind.rpcpassword
    settings.BITCOIND_WALLET = "flashpay"
    bitcoind_clients_forget()
    try:
        shared = bitcoind_client()
        assert bitcoind_client() is shared
        assert shared.wallet == "flashpay"
        # another wallet (a hot wallet) is a client of its own, never the shared one
        hot = bitcoind_client_open(wallet="hot")
        assert hot is not shared and hot.wallet == "hot"
        hot.close()
        # a settings change gets a new shared client
        settings.BITCOIND_WALLET = "other"
        assert bitcoind_client() is not shared
        assert bitcoind_client().wallet == "other"
        assert shared.get_block_count() == 101
    finally:
        bitcoind_clients_forget()
