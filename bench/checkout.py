"""Benchmark: hosted checkout latency, GET /i/<id> (the page) and GET /i/<id>/status (the poll), p50/p99.

    .venv/bin/python bench/checkout.py [--seconds 5] [--concurrency 1 8] [--invoices 20] [--workers 2] [--threads 4]

Reuses bench/invoices.py's setup: the devnode in a child process, a store with BTC-CHAIN and
BTC-LN, granian serving the app. Creates ``--invoices`` invoices through the API, then requests
their checkout pages and status JSON from N threads for ``--seconds`` each and prints requests/s
and latency percentiles (first views, with every QR drawn afresh, apart). The page renders three inline SVG QR codes; the status is one query.
Uses its own database (DATABASE_URL, default .../flashpay_bench_checkout).
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flashpay_bench_checkout")

from bench.invoices import free_port, get_load, prepare, rate_line, start_devnode, start_web  # noqa: E402


def create_invoices(base: str, store_id: str, secret: str, count: int) -> list[str]:
    import httpx

    ids = []
    with httpx.Client(timeout=30, headers={"Authorization": f"token {secret}"}) as client:
        for n in range(count):
            response = client.post(
                f"{base}/api/v1/stores/{store_id}/invoices",
                json={"amount": "10", "currency": "USD", "metadata": {"orderId": f"bench-{n}", "itemDesc": "Coffee"}},
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--invoices", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    password = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as datadir:
        devnode, info = start_devnode(datadir, password)
        env = {
            "BITCOIN_NETWORK": "regtest", "BITCOIND_URL": info["bitcoind"], "BITCOIND_RPCUSER": "bench",
            "BITCOIND_RPCPASSWORD": password, "BITCOIND_COOKIE_FILE": "", "BITCOIND_WALLET": "flashpay",
            "LIGHTNING_CONNECTION_STRING": info["lightning"], "RATES_SOURCES": "fixed",
            "RATES_FIXED": "BTC_USD=50000", "DEBUG": "true",
        }
        web = None
        try:
            store_id, secret = prepare(env)
            port = free_port()
            web = start_web(env, port, args.workers, args.threads)
            base = f"http://127.0.0.1:{port}"
            ids = create_invoices(base, store_id, secret, args.invoices)
            print(f"checkout over {len(ids)} invoices (BTC-CHAIN + BTC-LN), granian {args.workers} workers x "
                  f"{args.threads} threads, {os.cpu_count()} CPUs")
            # first views: every QR drawn afresh (nothing in the per-process QR cache yet)
            import httpx

            cold = []
            with httpx.Client(timeout=30) as client:
                for i in ids:
                    started = time.perf_counter()
                    client.get(f"{base}/i/{i}").raise_for_status()
                    cold.append(time.perf_counter() - started)
            cold.sort()
            print(f"  GET /i/<id> first view, c= 1: p50 {cold[len(cold) // 2] * 1000:6.1f} ms  max {cold[-1] * 1000:6.1f} ms")
            for name, suffix in (("GET /i/<id>       ", ""), ("GET /i/<id>/status", "/status")):
                urls = [f"{base}/i/{i}{suffix}" for i in ids]
                get_load(urls, 2, 1.0, {"Accept-Language": "en"})  # warm-up
                for concurrency in args.concurrency:
                    latencies, errors, wall = get_load(urls, concurrency, args.seconds, {"Accept-Language": "en"})
                    print(f"  {name} c={concurrency:>2}: {rate_line(latencies, errors, wall, 'req')}")
        finally:
            if web is not None:
                web.send_signal(signal.SIGTERM)
                web.wait(10)
            devnode.send_signal(signal.SIGTERM)
            devnode.wait(10)


if __name__ == "__main__":
    main()
