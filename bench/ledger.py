"""Benchmark: ledger postings per second between random accounts at concurrency 1 and 8.

    .venv/bin/python bench/ledger.py [--seconds 5] [--accounts 200] [--concurrency 1 8]

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default .../flashpay_bench), created and
migrated when missing. Each worker is a separate process with its own connection.
"""
import argparse
import multiprocessing
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Never the developer's DATABASE_URL: the bench fills its database with throwaway accounts.
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flashpay_bench"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flashpay.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from flashpay.errors import InsufficientFunds  # noqa: E402
from flashpay.ledger import selectors, services  # noqa: E402

FUNDING_MSAT = 10**15  # plenty: transfers are 1..1000 msat, so refusals stay rare


def setup(n_accounts: int) -> list[int]:
    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    world = services.account_get_or_create(kind="external", reference="bench-world")
    ids = []
    for i in range(n_accounts):
        account = services.account_get_or_create(kind="card", reference=f"bench-{i}")
        services.transaction_post(
            entries=[(world, -FUNDING_MSAT), (account, FUNDING_MSAT)],
            idempotency_key=f"bench-fund-{i}",
        )
        ids.append(account.pk)
    return ids


def worker(account_ids, start_at, stop_at, results) -> None:
    from flashpay.ledger.models import Account

    accounts = list(Account.objects.filter(pk__in=account_ids))
    rng = random.Random()
    done = refused = 0
    while time.monotonic() < start_at:
        time.sleep(0.001)
    cpu_start = time.process_time()
    while time.monotonic() < stop_at:
        payer, payee = rng.sample(accounts, 2)
        amount = rng.randint(1, 1000)
        try:
            services.transaction_post(
                entries=[(payer, -amount), (payee, amount)],
                idempotency_key=uuid.uuid4().hex,
            )
            done += 1
        except InsufficientFunds:
            refused += 1
    cpu = time.process_time() - cpu_start
    connections.close_all()
    results.put((done, refused, cpu))


def run(account_ids: list[int], concurrency: int, seconds: float) -> float:
    connections.close_all()  # never share a connection across fork
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.monotonic() + 1.0  # let every process connect first
    stop_at = start_at + seconds
    procs = [
        ctx.Process(target=worker, args=(account_ids, start_at, stop_at, results))
        for _ in range(concurrency)
    ]
    for proc in procs:
        proc.start()
    totals = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    done = sum(d for d, _, _ in totals)
    refused = sum(r for _, r, _ in totals)
    cpu_us = sum(c for _, _, c in totals) / max(done, 1) * 1e6
    rate = done / seconds
    # The machine may be shared: the load average and the client CPU per posting say how much
    # of it this run really had.
    print(
        f"concurrency {concurrency}: {done} postings in {seconds:.1f} s = {rate:,.0f}/s "
        f"({refused} refused; client CPU {cpu_us:,.0f} us/posting; "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    account_ids = setup(args.accounts)
    print(f"{len(account_ids)} accounts, {os.cpu_count()} CPUs, {args.seconds:.0f} s per run")
    rates = {c: run(account_ids, c, args.seconds) for c in args.concurrency}
    if len(rates) >= 2:
        low, high = min(rates), max(rates)
        print(f"ratio concurrency {high} / {low}: {rates[high] / rates[low]:.2f}x")

    # The run must leave a sound ledger behind.
    mismatches = selectors.account_balance_mismatch_list()
    total = selectors.ledger_posted_total()
    print(f"reconciliation: {len(mismatches)} mismatch(es), posted total {total.value} msat")
    if mismatches or total:
        sys.exit(1)


if __name__ == "__main__":
    main()
