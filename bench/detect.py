"""Benchmark: payment detection latency (Lightning and on-chain) and the watcher's time per block.

    .venv/bin/python bench/detect.py [--ln-payments 200] [--payments 50] [--poll 0.1] [--sizes 10 10000 100000]

0. Lightning: the settled-invoice stream is followed (lightning_sync_settled) while the devnode's
   external node pays 200 invoices one by one; each is timed from the start of the payment until
   its LightningInvoice row is settled (an upper bound on settlement -> row). Goal: p99 < 300 ms.
1. Latency: a watcher thread polls (onchain_watch_forever) while payments are sent one by one with
   sendtoaddress; each is timed until its OnchainPayment row is visible. Goal: p99 < 2 s.
2. Per block: for each size N, N addresses are watched (node wallet range and database rows),
   a block with 20 payments is mined, and one onchain_sync_once is timed. Goal: flat in N.
   Deriving 100,000 addresses takes a minute or two (pure derivation, before any timing).

Runs against the devnode simulator in-process and its own PostgreSQL database (DATABASE_URL,
default .../flashpay_bench_onchain), created and migrated when missing, emptied of on-chain rows.
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flashpay_bench_onchain")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flashpay.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from embit import bip32  # noqa: E402
from embit.descriptor import Descriptor  # noqa: E402
from embit.networks import NETWORKS  # noqa: E402

from devnode.bitcoind import BitcoindSimulator  # noqa: E402
from devnode.lnd import LndNetwork, node_backend  # noqa: E402
from flashpay.events.models import Event  # noqa: E402
from invoices.models import ChainCursor, OnchainDescriptor, OnchainPayment, WatchedAddress  # noqa: E402
from invoices.onchain.descriptors import descriptor_checksum  # noqa: E402
from invoices.onchain.rpc import BitcoindClient  # noqa: E402
from invoices.onchain.services import (  # noqa: E402
    onchain_descriptor_register,
    onchain_sync_once,
    onchain_watch_address,
)
from invoices.onchain.watcher import onchain_watch_forever  # noqa: E402
from lightning.clients import lightning_client_open  # noqa: E402
from lightning.models import LightningInvoice, LightningSettleCursor  # noqa: E402
from lightning.services import lightning_invoice_create, lightning_sync_settled  # noqa: E402


def reset_db() -> None:
    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    OnchainPayment.objects.all().delete()
    WatchedAddress.objects.all().delete()
    OnchainDescriptor.objects.all().delete()
    ChainCursor.objects.all().delete()
    Event.objects.filter(type__startswith="onchain.").delete()


def clients(node: BitcoindSimulator, wallet: str) -> tuple[BitcoindClient, BitcoindClient]:
    watch = BitcoindClient(node.url, rpcuser=node.rpcuser, rpcpassword=node.rpcpassword, wallet=wallet)
    watch.ensure_watch_only_wallet()
    miner = BitcoindClient(node.url, rpcuser=node.rpcuser, rpcpassword=node.rpcpassword, wallet="devnode")
    return watch, miner


def latency(node: BitcoindSimulator, n_payments: int, poll: float) -> None:
    reset_db()
    watch, miner = clients(node, "latency")
    key = bip32.HDKey.from_seed(b"\x11" * 32).derive("m/84h/1h/0h").to_public()
    wallet = onchain_descriptor_register(text=key.to_string(version=NETWORKS["test"]["zpub"]), network="regtest")
    addresses = [onchain_watch_address(client=watch, descriptor=wallet).address for _ in range(n_payments)]
    stop = threading.Event()
    thread = threading.Thread(target=onchain_watch_forever, kwargs={"client": watch, "poll_seconds": poll, "stop": stop})
    thread.start()
    timings = []
    try:
        for i, address in enumerate(addresses):
            started = time.perf_counter()
            txid = miner.send_to_address(address, Decimal("0.0001"))
            while not OnchainPayment.objects.filter(txid=txid).exists():
                time.sleep(0.005)
            timings.append(time.perf_counter() - started)
            if i % 10 == 9:
                miner.generate_to_address(1, miner.get_new_address())
    finally:
        stop.set()
        thread.join()
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(f"detection latency, polling every {poll}s, {len(timings)} payments: "
          f"p50 {statistics.median(timings) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {timings[-1] * 1000:.0f} ms "
          f"(goal p99 < 2000 ms)")


def lightning_latency(n_payments: int) -> None:
    reset_db()
    LightningInvoice.objects.all().delete()
    LightningSettleCursor.objects.all().delete()
    with tempfile.TemporaryDirectory() as datadir:
        network = LndNetwork(datadir=datadir, flashpay_port=0, external_port=0, persist=False)
        network.start()
        ours = lightning_client_open(connection_string=network.connection_string("flashpay"))
        external = node_backend(datadir, "external")
        stop = threading.Event()
        follower = threading.Thread(
            target=lightning_sync_settled, kwargs={"backend": ours, "stop_event": stop}, daemon=True
        )
        follower.start()
        timings = []
        try:
            for i in range(n_payments):
                invoice = lightning_invoice_create(backend=ours, amount_msat=10_000 + i, memo="bench", expiry=600)
                result: list = []
                payer = threading.Thread(
                    target=lambda bolt11=invoice.bolt11, out=result: out.append(
                        external.pay(bolt11, fee_limit_msat=0, timeout=10)
                    )
                )
                started = time.perf_counter()
                payer.start()
                while not LightningInvoice.objects.filter(pk=invoice.pk, status="settled").exists():
                    time.sleep(0.002)
                timings.append(time.perf_counter() - started)
                payer.join()
                if result[0].status != "success":
                    raise SystemExit(f"payment {i} did not succeed: {result[0]}")
        finally:
            stop.set()
            follower.join(timeout=10)
            network.stop()
            ours.close()
            external.close()
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(f"lightning settlement -> payment row, {len(timings)} payments: "
          f"p50 {statistics.median(timings) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {timings[-1] * 1000:.1f} ms (goal p99 < 300 ms)")


def per_block(node: BitcoindSimulator, size: int, payments_per_block: int = 20, blocks: int = 5) -> None:
    reset_db()
    watch, miner = clients(node, f"size-{size}")
    key = bip32.HDKey.from_seed(size.to_bytes(4, "big") * 8, version=NETWORKS["test"]["xprv"]).derive("m/84h/1h/0h").to_public()
    body = f"wpkh({key.to_base58()}/0/*)"
    started = time.perf_counter()
    # node side: the watch-only wallet derives `size` addresses
    watch.import_descriptors([{"desc": f"{body}#{descriptor_checksum(body)}", "range": [0, size - 1], "timestamp": "now"}])
    # database side: `size` watched-address rows
    desc = Descriptor.from_string(body)
    record = OnchainDescriptor.objects.create(descriptor=f"{body}#{descriptor_checksum(body)}", network="regtest",
                                              script_type="wpkh", next_index=size, imported_until=size - 1)
    rows = [WatchedAddress(address=desc.derive(i).address(NETWORKS["regtest"]), descriptor=record, derivation_index=i)
            for i in range(size)]
    WatchedAddress.objects.bulk_create(rows, batch_size=5000)
    setup = time.perf_counter() - started
    onchain_sync_once(client=watch)
    timings = []
    for b in range(blocks):
        for p in range(payments_per_block):
            miner.send_to_address(rows[(b * payments_per_block + p) % size].address, Decimal("0.0001"))
        miner.generate_to_address(1, miner.get_new_address())
        started = time.perf_counter()
        onchain_sync_once(client=watch)
        timings.append(time.perf_counter() - started)
    print(f"{size:>7} watched addresses: {statistics.median(timings) * 1000:.1f} ms per block "
          f"({payments_per_block} payments each, median of {blocks}; setup {setup:.1f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ln-payments", type=int, default=200)
    parser.add_argument("--payments", type=int, default=50)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 10_000, 100_000])
    args = parser.parse_args()
    lightning_latency(args.ln_payments)
    node = BitcoindSimulator(port=0, rpcuser="bench", rpcpassword="bench", premine_blocks=200).start()
    try:
        latency(node, args.payments, args.poll)
        for size in args.sizes:
            per_block(node, size)
    finally:
        node.stop()


if __name__ == "__main__":
    main()
