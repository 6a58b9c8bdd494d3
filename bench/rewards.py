"""Benchmark: rewards earning events per second through the full path, at concurrency 8.

    .venv/bin/python bench/rewards.py [--events 4000] [--concurrency 8] [--members 2000]

The full path is the worker's (flashpay.events on the flashpay.work engine): a ``CardPaymentSucceeded`` outbox event (emitted beforehand, as
cards does when a card pays a merchant) is claimed by a worker, its rewards handler applies the
merchant's earning rule (and, in the second run, a bonus campaign with a budget), posts one
ledger transaction from the funders to the member's pending points and writes the award, and
the delivery is marked done. ``--concurrency`` worker processes drain the outbox together. A
first run delivers events to a handler that does nothing: the outbox's own cost, for comparison.

Printed per run: events/s, and CPU per event of the workers (client) and of their PostgreSQL
backends (server, read from /proc: the database runs on this machine), so a shared machine's
load can be told apart from the cost of the path.

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default .../flashpay_bench_rewards),
created and migrated when missing.
"""
import argparse
import multiprocessing
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flashpay_bench_rewards"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flashpay.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Production settings: with DEBUG on, Django wraps every cursor to log its SQL.
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("CARD_KEY_ENCRYPTION_KEY", secrets.token_hex(32))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from flashpay.events.models import EventDelivery  # noqa: E402
from flashpay.events.services import event_deliveries_run, event_emit  # noqa: E402
from flashpay.ledger import selectors as ledger_selectors  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def setup(n_members: int):
    from django.contrib.auth import get_user_model

    from flashpay.accounts.models import Store
    from rewards.models import Campaign, EarningRule
    from rewards.services import campaigns, earning, funding, members

    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    User = get_user_model()
    operator, _ = User.objects.get_or_create(username="bench-operator", defaults={"is_staff": True})
    stores = []
    for n in range(4):
        store, _ = Store.objects.get_or_create(name=f"Bench merchant {n}")
        rule = EarningRule.objects.filter(store=store).first() or earning.earning_rule_save(rule=EarningRule(store=store))
        funding.funder_top_up(funder=rule.funder, points=10**10, note="bench", actor=operator)
        stores.append(store.pk)
    program = funding.program_funder_get_or_create()
    funding.funder_top_up(funder=program, points=10**10, note="bench", actor=operator)
    existing = User.objects.filter(username__startswith="bench-member-").count()
    User.objects.bulk_create(
        User(username=f"bench-member-{n}", email=f"bench-member-{n}@example.com") for n in range(existing, n_members)
    )
    user_ids = list(User.objects.filter(username__startswith="bench-member-").order_by("pk").values_list("pk", flat=True))[:n_members]
    for user_id in user_ids:
        members.member_get_or_create_for_user_id(user_id=user_id)
    campaign = Campaign.objects.filter(name="Bench bonus").first()
    if campaign is None:
        campaign = campaigns.campaign_save(
            campaign=Campaign(name="Bench bonus", effect=Campaign.Effect.BONUS, bonus_points=5, budget_points=10**12, funder=program)
        )
    return stores, user_ids, campaign


NOOP_EVENT = "BenchNoop"


def noop(event) -> None:
    """The handler of the outbox-only run: what delivering an event costs before any handler work."""


def emit(stores, user_ids, count: int, event_type: str = "CardPaymentSucceeded") -> None:
    """Write ``count`` CardPaymentSucceeded events (what cards emits per card payment)."""
    for start in range(0, count, 500):
        with transaction.atomic():
            for n in range(start, min(start + 500, count)):
                payment_hash = uuid.uuid4().hex + uuid.uuid4().hex
                event_emit(
                    type=event_type,
                    aggregate_type="card",
                    aggregate_id="bench",
                    payload={
                        "paymentId": payment_hash[:16], "cardId": "bench", "holderId": user_ids[n % len(user_ids)],
                        "kind": "internal", "amount_msat": (1_000 + n % 50_000) * 1000, "fee_msat": 0,
                        "payment_hash": payment_hash, "merchantStoreId": stores[n % len(stores)], "reason": "",
                    },
                    idempotency_key=f"{event_type}:{payment_hash}",
                )


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def worker(start_at, results) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    while time.monotonic() < start_at:
        time.sleep(0.001)
    cpu_start, server_start = time.process_time(), _proc_cpu_seconds(backend)
    done = 0
    while True:
        ran = event_deliveries_run(limit=50)
        if ran == 0:
            break
        done += ran
    cpu, server = time.process_time() - cpu_start, _proc_cpu_seconds(backend) - server_start
    finished_at = time.monotonic()
    connections.close_all()
    results.put((done, cpu, server, finished_at))


def run(label: str, stores, user_ids, count: int, concurrency: int, event_type: str = "CardPaymentSucceeded") -> float:
    emit(stores, user_ids, count, event_type)
    connections.close_all()  # never share a connection across fork
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.monotonic() + 1.0
    procs = [ctx.Process(target=worker, args=(start_at, results)) for _ in range(concurrency)]
    for proc in procs:
        proc.start()
    totals = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    done = sum(t[0] for t in totals)
    seconds = max(t[3] for t in totals) - start_at
    client_us = sum(t[1] for t in totals) / max(done, 1) * 1e6
    server_us = sum(t[2] for t in totals) / max(done, 1) * 1e6
    pending = EventDelivery.objects.exclude(state="done").count()
    rate = done / seconds
    print(
        f"{label}: {done} events in {seconds:.2f} s = {rate:,.0f} events/s at concurrency {concurrency} "
        f"(CPU per event: workers {client_us:,.0f} us + PostgreSQL {server_us:,.0f} us = "
        f"{client_us + server_us:,.0f} us; {pending} not done; load average {os.getloadavg()[0]:.1f})"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--members", type=int, default=2000)
    args = parser.parse_args()

    from rewards.models import Award
    from rewards.selectors import member_lots_mismatch_list
    from rewards.services.campaigns import campaign_activate, campaign_pause, campaign_resume

    stores, user_ids, campaign = setup(args.members)
    print(f"{len(user_ids)} members, {len(stores)} merchants, {os.cpu_count()} CPUs")
    from flashpay.events.registry import register_handler

    # The floor: the same outbox path with a handler that does nothing (forked workers find it in
    # this script, their __main__).
    register_handler(NOOP_EVENT, "__main__.noop")
    run("outbox alone (no-op handler)", stores, user_ids, args.events, args.concurrency, NOOP_EVENT)
    before = Award.objects.count()
    run("earning rule only", stores, user_ids, args.events, args.concurrency)
    if campaign.state == "draft":
        campaign = campaign_activate(campaign=campaign)
    elif campaign.state == "paused":
        campaign = campaign_resume(campaign=campaign)
    run("with a bonus campaign (budget row lock)", stores, user_ids, args.events, args.concurrency)
    campaign_pause(campaign=campaign)
    made = Award.objects.count() - before
    print(f"awards made: {made} of {2 * args.events} events")

    mismatches = ledger_selectors.account_balance_mismatch_list()
    total = ledger_selectors.ledger_posted_total()
    lots = member_lots_mismatch_list()
    print(f"reconciliation: {len(mismatches)} ledger mismatch(es), posted total {total.value} msat, {len(lots)} lot mismatch(es)")
    if mismatches or total or lots or made != 2 * args.events:
        sys.exit(1)


if __name__ == "__main__":
    main()
