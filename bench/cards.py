"""Benchmark: Flash Card tap (LNURL-withdraw GET) and internal-merchant callback latency, taps/s.

    .venv/bin/python bench/cards.py [--taps 300] [--cards 20] [--threads 1 4]

Goal on the 2-core dev machine: tap p50 < 20 ms, internal callback p50 < 50 ms. Requests go
through Django's full stack in-process (middleware, DRF, views, services, PostgreSQL), without
an HTTP server in front. Invoices are minted beforehand by the devnode's LND (started here on
free ports), so the callbacks measure FlashPay's own work: internal payments never call the node.
Uses its own database (BENCH_CARDS_DATABASE_URL, default .../flashpay_bench_cards).
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_CARDS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flashpay_bench_cards"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flashpay.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from cards import crypto, selectors  # noqa: E402
from cards.models import Card, ProgrammingLink  # noqa: E402
from cards.services.cards import card_activate, card_create  # noqa: E402
from cards.services.programming import card_program, programming_link_create  # noqa: E402
from devnode.lnd import LndNetwork  # noqa: E402
from flashpay.ledger.services import account_get_or_create, transaction_post  # noqa: E402
from lightning.clients import lightning_clients_forget, server_node_client  # noqa: E402
from lightning.services import lightning_invoice_create  # noqa: E402

SAT = 1000


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def make_cards(count: int, run: str) -> list[Card]:
    budget = account_get_or_create(kind="program_budget", reference="bench")
    cards = []
    for i in range(count):
        card = card_create(
            name=f"bench {run} {i}", per_transaction_limit_msat=10**9, daily_limit_msat=10**12
        ).card
        link = programming_link_create(card=card, kind=ProgrammingLink.Kind.PROGRAM)
        # UIDs unique per run, so earlier runs' live cards do not collide.
        uid = f"04{run[:6]}{i:06X}"[:14].upper()
        card_program(token=link.token, uid_hex=uid)
        card_activate(card=card)
        card.refresh_from_db()
        account = account_get_or_create(kind="card", reference=card.public_id)
        transaction_post(entries=[(budget, -10**11), (account, 10**11)], idempotency_key=f"bench-fund-{card.public_id}")
        cards.append(card)
    return cards


def tap_urls(cards: list[Card], taps: int) -> list[str]:
    """What the chips would write: counters rising per card (computed before timing)."""
    urls = []
    keys = {card.pk: selectors.card_keys_get(card=card) for card in cards}
    for n in range(taps):
        card = cards[n % len(cards)]
        counter = n // len(cards) + 1
        k = keys[card.pk]
        p, c = crypto.sun_make(uid=bytes.fromhex(card.uid), counter=counter, k1=k.k1, k2=k.k2)
        urls.append(f"/cards/tap?p={p.hex().upper()}&c={c.hex().upper()}")
    return urls


def timed(requests_: list[str], threads: int, n_cards: int) -> tuple[list[float], float, list]:
    """Run the GETs from `threads` threads; (latencies in ms, wall seconds, responses).

    Request n is for card n % n_cards, and each card stays on one thread: a real card cannot
    tap twice at once, and taps arriving out of counter order would rightly be refused.
    """
    latencies: list[float] = []
    answers: list = [None] * len(requests_)
    lock = threading.Lock()
    chunks = [[n for n in range(len(requests_)) if (n % n_cards) % threads == t] for t in range(threads)]

    def run(indexes):
        client = Client()
        mine = []
        for index in indexes:
            start = time.perf_counter()
            response = client.get(requests_[index], REMOTE_ADDR="192.0.2.1")
            mine.append((time.perf_counter() - start) * 1000)
            answers[index] = response
        with lock:
            latencies.extend(mine)
        connection.close()

    start = time.perf_counter()
    workers = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, time.perf_counter() - start, answers


def report(name: str, latencies: list[float], wall: float) -> None:
    print(
        f"{name:<34} n={len(latencies):<5} p50={statistics.median(latencies):6.1f} ms  "
        f"p99={percentile(latencies, 99):6.1f} ms  {len(latencies) / wall:7.1f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taps", type=int, default=300)
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    settings.CARD_RATE_LIMIT_PER_CARD = 0  # one client address, many taps: not what is measured
    settings.CARD_RATE_LIMIT_PER_IP = 0
    with tempfile.TemporaryDirectory() as tmp:
        network = LndNetwork(datadir=Path(tmp), flashpay_port=0, external_port=0, persist=False)
        network.start()
        try:
            settings.LIGHTNING_CONNECTION_STRING = network.connection_string("flashpay")
            lightning_clients_forget()
            backend = server_node_client()
            for threads in args.threads:
                run = os.urandom(3).hex()
                cards = make_cards(args.cards, run)
                urls = tap_urls(cards, args.taps)
                invoices = [
                    lightning_invoice_create(backend=backend, amount_msat=1_000 * SAT).bolt11 for _ in range(args.taps)
                ]
                latencies, wall, answers = timed(urls, threads, args.cards)
                failed = [a for a in answers if a.status_code != 200]
                assert not failed, failed[0].content
                report(f"tap GET ({threads} thread(s))", latencies, wall)
                callbacks = [
                    f"/cards/tap/callback?k1={a.json()['k1']}&pr={pr}" for a, pr in zip(answers, invoices, strict=True)
                ]
                latencies, wall, answers = timed(callbacks, threads, args.cards)
                refused = [a for a in answers if a.status_code != 200]
                assert not refused, refused[0].content
                report(f"internal callback ({threads} thread(s))", latencies, wall)
        finally:
            network.stop()


if __name__ == "__main__":
    main()
