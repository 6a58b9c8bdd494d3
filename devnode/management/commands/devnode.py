"""Run the development node (regtest bitcoind JSON-RPC + two LND gRPC nodes) and drive it from the CLI.

    manage.py devnode                  serve both until interrupted (what `make run` starts)
    manage.py devnode pay <bolt11>     the "external" Lightning node pays an invoice
    manage.py devnode send <addr> <btc>  the devnode's hot wallet pays an address (sendtoaddress)
    manage.py devnode mine [n]         mine n blocks (default 1)

Development and tests only: the command refuses to serve when DEBUG is off.
"""
from __future__ import annotations

import signal
import threading
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from flashpay.errors import ApplicationError


def _bitcoind_port() -> int:
    return urlsplit(settings.BITCOIND_URL).port or 18443


def _lnd_port() -> int:
    # The flashpay node listens where LIGHTNING_CONNECTION_STRING says FlashPay will look for it.
    from lightning.connection import LndGrpcConfig, parse_connection_string

    config = parse_connection_string(settings.LIGHTNING_CONNECTION_STRING)
    if not isinstance(config, LndGrpcConfig):
        raise CommandError("LIGHTNING_CONNECTION_STRING must be an lnd-grpc string to use the devnode")
    return int(config.server.rsplit(":", 1)[1])


class Command(BaseCommand):
    help = "Development node: serve regtest bitcoind + LND simulators, or pay/send/mine against them."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action")
        serve = sub.add_parser("serve", help="serve until interrupted (the default)")
        serve.add_argument("--mine-every", type=float, default=None, metavar="SECONDS",
                           help="mine a block every SECONDS (default: only on demand)")
        pay = sub.add_parser("pay", help="the external Lightning node pays a BOLT11 invoice")
        pay.add_argument("bolt11")
        pay.add_argument("--amount-msat", type=int, default=None,
                         help="amount for an invoice without one (a TopUp invoice)")
        send = sub.add_parser("send", help="pay a bitcoin address from the devnode's hot wallet")
        send.add_argument("address")
        send.add_argument("btc", help="amount in BTC, e.g. 0.001")
        mine = sub.add_parser("mine", help="mine blocks")
        mine.add_argument("blocks", type=int, nargs="?", default=1)

    def handle(self, *args, action=None, **options):
        try:
            if action in (None, "serve"):
                self._serve(mine_every=options.get("mine_every"))
            elif action == "pay":
                self._pay(options["bolt11"], options["amount_msat"])
            elif action == "send":
                self._send(options["address"], options["btc"])
            elif action == "mine":
                self._mine(options["blocks"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    # --- serve -----------------------------------------------------------------------------------
    def _serve(self, *, mine_every: float | None) -> None:
        if not settings.DEBUG:
            raise CommandError("the devnode is for development and tests only (DEBUG is off)")
        from devnode.bitcoind import BitcoindSimulator
        from devnode.lnd import LndNetwork

        bitcoind = BitcoindSimulator(
            port=_bitcoind_port(),
            datadir=settings.DEVNODE_BITCOIND_DIR,
            auto_mine_seconds=mine_every,
            premine_blocks=101,
        )
        bitcoind.start()
        lnd = LndNetwork(
            datadir=settings.DEVNODE_LND_DIR,
            flashpay_port=_lnd_port(),
            external_port=0,
            block_height=lambda: len(bitcoind.active) - 1,
        )
        try:
            lnd.start()
        except Exception:
            bitcoind.stop()
            raise
        self.stdout.write(
            f"devnode: bitcoind JSON-RPC on {bitcoind.url} (cookie {bitcoind.cookie_path}), "
            f"LND gRPC flashpay on {lnd.host}:{lnd.flashpay_port}, external on "
            f"{lnd.host}:{lnd.external_port}"
        )
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        try:
            stop.wait()
        finally:
            lnd.stop()
            bitcoind.stop()
            self.stdout.write("devnode: stopped")

    # --- CLI helpers against a running devnode --------------------------------------------------
    def _pay(self, bolt11: str, amount_msat: int | None) -> None:
        from devnode.lnd import pay_from_external

        try:
            result = pay_from_external(bolt11, datadir=settings.DEVNODE_LND_DIR, amount_msat=amount_msat)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        if result.status != "success":
            raise CommandError(f"payment {result.status}: {result.reason or 'no reason given'}")
        self.stdout.write(
            f"paid {result.amount_msat} msat (fee {result.fee_msat} msat), preimage {result.preimage}"
        )

    def _hot_wallet(self):
        from devnode.bitcoind import HOT_WALLET
        from invoices.onchain.clients import bitcoind_client_open

        return bitcoind_client_open(wallet=HOT_WALLET)

    def _send(self, address: str, btc: str) -> None:
        try:
            amount = Decimal(btc)
        except InvalidOperation:
            raise CommandError(f"not an amount of BTC: {btc!r}")
        if amount <= 0:
            raise CommandError("the amount must be positive")
        client = self._hot_wallet()
        try:
            txid = client.call("sendtoaddress", address, amount, wallet=True)
        finally:
            client.close()
        self.stdout.write(f"sent {amount} BTC to {address}: txid {txid}")

    def _mine(self, blocks: int) -> None:
        if blocks < 1:
            raise CommandError("mine at least one block")
        client = self._hot_wallet()
        try:
            address = client.call("getnewaddress", wallet=True)
            hashes = client.call("generatetoaddress", blocks, address)
        finally:
            client.close()
        self.stdout.write(f"mined {len(hashes)} block(s), tip {hashes[-1]}")
