"""Benchmark: Greenfield invoice creation throughput through the HTTP API, at concurrency 1 and 16.

    .venv/bin/python bench/invoices.py [--seconds 10] [--concurrency 1 16] [--workers 2] [--threads 4] [--methods BTC-CHAIN BTC-LN]
        [--server-side-binding]

Each invoice gets a fresh on-chain address (descriptor derivation + watched-address row) and a
BOLT11 from the internal Lightning node, as in production. The devnode (bitcoind JSON-RPC and LND
gRPC simulators) runs in a child process, granian (the web server of make run) serves the API in others, and the load
generator here posts ``{"amount": "10", "currency": "USD"}`` from N threads for ``--seconds``
each and prints invoices/s and latency percentiles, then the CPU milliseconds each process spent
per invoice (web, devnode, load generator, PostgreSQL backends) and how much of the machine other
programs took meanwhile, which is where the time goes. Goal: >= 150 invoices/s at concurrency 16 on
a 2-core machine. Then it requests the hosted checkout pages (GET /i/<id>) of invoices it created,
at concurrency 1 and 16, and prints their latency p50/p99 (bench/checkout.py has more: first
views, the status poll). Uses its own database (DATABASE_URL, default
.../flashpay_bench_invoices), created and migrated when missing.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flashpay_bench_invoices")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flashpay.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

DEVNODE = """
import json, sys, signal, threading
from devnode.bitcoind import BitcoindSimulator
from devnode.lnd import LndNetwork
datadir = sys.argv[1]
btc = BitcoindSimulator(port=0, rpcuser="bench", rpcpassword=sys.argv[2], premine_blocks=101)
btc.start()
ln = LndNetwork(datadir=datadir + "/lnd", flashpay_port=0, external_port=0, persist=False)
ln.start()
print(json.dumps({"bitcoind": btc.url, "lightning": ln.connection_string("flashpay")}), flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
stop.wait()
ln.stop(); btc.stop()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_devnode(datadir: str, password: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-c", DEVNODE, datadir, password], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the devnode did not start")
    return proc, json.loads(line)


def prepare(env: dict) -> tuple[str, str]:
    """Migrate, then a store with both payment methods and an API key; returns (store id, secret)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from flashpay.accounts.models import User
    from flashpay.accounts.services import api_key_create, store_create
    from invoices.onchain.rpc import BitcoindClient
    from invoices.services.demo import demo_wallet_vpub
    from invoices.services.store_payment_methods import store_payment_method_update

    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    client = BitcoindClient(env["BITCOIND_URL"], rpcuser="bench", rpcpassword=env["BITCOIND_RPCPASSWORD"], wallet="flashpay")
    client.ensure_watch_only_wallet()
    user = User.objects.create_user(username=f"bench-{secrets.token_hex(4)}", password=secrets.token_hex(16))
    store = store_create(user=user, name="Bench store")
    store_payment_method_update(store=store, payment_method_id="BTC-CHAIN", enabled=True, config=demo_wallet_vpub(store=store))
    store_payment_method_update(store=store, payment_method_id="BTC-LN", enabled=True, config="Internal Node")
    _key, secret = api_key_create(user=user, label="bench", permissions=[f"btcpay.store.cancreateinvoice:{store.pk}"])
    from django.db import connections

    connections.close_all()
    return store.pk, secret


def start_web(env: dict, port: int, workers: int, threads: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "granian"), "--interface", "wsgi", "flashpay.wsgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--blocking-threads", str(threads),
            "--log-level", "warning", "--no-ws",
        ],
        cwd=ROOT, env={**os.environ, **env},
    )
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the web server did not start")


def http_load(
    method: str, urls: list[str], concurrency: int, seconds: float, headers: dict | None = None,
    body: bytes | None = None, on_ok=None,
) -> tuple[list[float], int, float]:
    """Send ``method`` to ``urls`` round-robin from N threads for ``seconds``, one keep-alive
    standard-library connection per thread and host: the load generator shares the CPUs with
    the server, and httpx costs ~3 ms of CPU per request at concurrency 16 against ~0.6 ms for
    this. ``on_ok(body)`` sees each 200 answer. Returns (sorted latencies of the 200 answers,
    errors, wall seconds); prints the first few errors.
    """
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    cycle = itertools.cycle(urls)
    deadline = time.monotonic() + seconds

    def run():
        nonlocal errors
        connections: dict[tuple, http.client.HTTPConnection] = {}
        try:
            while time.monotonic() < deadline:
                with lock:
                    parts = urlsplit(next(cycle))
                key = (parts.hostname, parts.port)
                connection = connections.get(key) or connections.setdefault(
                    key, http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                )
                started = time.perf_counter()
                try:
                    connection.request(method, parts.path, body, headers or {})
                    response = connection.getresponse()
                    status, text = response.status, response.read()
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()  # reconnects on the next request
                    status, text = 0, repr(exc).encode()
                elapsed = time.perf_counter() - started
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                        if on_ok is not None:
                            on_ok(text)
                    else:
                        errors += 1
                        if errors <= 3:
                            print(f"  error {status}: {text[:200].decode(errors='replace')}")
        finally:
            for connection in connections.values():
                connection.close()

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(latencies), errors, time.perf_counter() - started


def get_load(urls: list[str], concurrency: int, seconds: float, headers: dict | None = None) -> tuple[list[float], int, float]:
    """GET ``urls`` round-robin (see http_load)."""
    return http_load("GET", urls, concurrency, seconds, headers)


def rate_line(latencies: list[float], errors: int, wall: float, unit: str) -> str:
    """'<n> unit/s  p50 .. p95 .. p99 .. mean ..  (ok, errors)' of sorted latencies in seconds."""
    if not latencies:
        return f"no successful request ({errors} errors)"

    def p(q: float) -> float:
        return latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000

    return (
        f"{len(latencies) / wall:7.1f} {unit}/s  p50 {p(0.5):6.1f} ms  p95 {p(0.95):6.1f} ms  p99 {p(0.99):6.1f} ms  "
        f"mean {statistics.mean(latencies) * 1000:6.1f} ms  ({len(latencies)} ok, {errors} errors)"
    )


def load(
    url: str, secret: str, concurrency: int, seconds: float, methods: list[str], created: list[str] | None = None
) -> tuple[list[float], int, float]:
    """POST invoices to ``url`` (see http_load); the first 200 created ids go into ``created``."""
    body = json.dumps(
        {"amount": "10", "currency": "USD", "metadata": {"orderId": "bench"}, "checkout": {"paymentMethods": methods}}
    ).encode()
    headers = {"Authorization": f"token {secret}", "Content-Type": "application/json"}

    def keep_id(text: bytes) -> None:
        if created is not None and len(created) < 200:
            created.append(json.loads(text)["id"])

    return http_load("POST", [url], concurrency, seconds, headers, body, keep_id)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process from /proc (0 when it is gone or /proc is missing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, sum(ticks) / hz


def _postgres_backends() -> list[int]:
    """Server pids of the web workers' connections (same machine only; empty otherwise)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}/stat")]


class CpuMeter:
    """CPU seconds spent by each process of the benchmark while a load runs: where the time goes.

    Reads /proc (Linux); PostgreSQL counts only when it runs on this machine. "other programs"
    is what the rest of the machine used meanwhile (e.g. other work on a shared machine).
    Processes are looked up at each snapshot, so connections opened during a run count too.
    """

    def __init__(self, *, web: subprocess.Popen, devnode: subprocess.Popen):
        self.web, self.devnode = web, devnode

    def _pids(self) -> dict[str, list[int]]:
        return {
            "web": [self.web.pid, *_children(self.web.pid)],
            "devnode": [self.devnode.pid],
            "load generator": [os.getpid()],
            "postgres": _postgres_backends(),
        }

    def snapshot(self) -> tuple[dict[str, dict[int, float]], tuple[float, float]]:
        return {name: {p: _cpu_seconds(p) for p in pids} for name, pids in self._pids().items()}, _machine_busy()

    def report(self, before, after, invoices: int) -> str:
        (start, (busy0, total0)), (end, (busy1, total1)) = before, after
        used = {
            name: sum(seconds - start[name].get(pid, 0.0) for pid, seconds in end[name].items())
            for name in end
        }
        others = max((busy1 - busy0) - sum(used.values()), 0.0)
        wall = (total1 - total0) / (os.cpu_count() or 1)
        parts = "  ".join(f"{name} {seconds / invoices * 1000:.1f}" for name, seconds in used.items())
        return (
            f"      CPU ms per invoice: {parts}  (total {sum(used.values()) / invoices * 1000:.1f}); "
            f"other programs used {others / wall if wall else 0:.2f} of {os.cpu_count()} CPUs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, default=2, help="web processes (the Procfile's)")
    parser.add_argument("--threads", type=int, default=4, help="request threads per web process")
    parser.add_argument("--checkout-seconds", type=float, default=5.0, help="per concurrency, for the checkout pages")
    parser.add_argument("--methods", nargs="+", default=["BTC-CHAIN", "BTC-LN"], help="payment methods per invoice")
    parser.add_argument(
        "--server-side-binding", action="store_true", help="run the web with DB_SERVER_SIDE_BINDING=true (see .env.example)"
    )
    args = parser.parse_args()

    password = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as datadir:
        devnode, info = start_devnode(datadir, password)
        env = {
            "BITCOIN_NETWORK": "regtest",
            "BITCOIND_URL": info["bitcoind"],
            "BITCOIND_RPCUSER": "bench",
            "BITCOIND_RPCPASSWORD": password,
            "BITCOIND_COOKIE_FILE": "",
            "BITCOIND_WALLET": "flashpay",
            "LIGHTNING_CONNECTION_STRING": info["lightning"],
            "RATES_SOURCES": "fixed",
            "RATES_FIXED": "BTC_USD=50000",
            # Production settings: with DEBUG on, Django wraps every cursor to log its SQL.
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "CARD_KEY_ENCRYPTION_KEY": secrets.token_hex(32),
            "DB_SERVER_SIDE_BINDING": "true" if args.server_side_binding else "false",
        }
        web = None
        try:
            store_id, secret = prepare(env)
            port = free_port()
            web = start_web(env, port, args.workers, args.threads)
            url = f"http://127.0.0.1:{port}/api/v1/stores/{store_id}/invoices"
            # Warm-up at the highest concurrency, so every worker has served requests (lazy imports,
            # URL resolver, database connection) and the first address import is done.
            load(url, secret, max(args.concurrency), 3.0, args.methods)
            print(f"invoice creation via POST /api/v1/stores/{{storeId}}/invoices ({' + '.join(args.methods)}), "
                  f"granian {args.workers} workers x {args.threads} threads, {os.cpu_count()} CPUs"
                  + (", server-side binding" if args.server_side_binding else ""))
            meter = CpuMeter(web=web, devnode=devnode)
            created: list[str] = []
            for concurrency in args.concurrency:
                before = meter.snapshot()
                latencies, errors, wall = load(url, secret, concurrency, args.seconds, args.methods, created)
                after = meter.snapshot()
                print(f"  concurrency {concurrency:>3}: {rate_line(latencies, errors, wall, 'invoices')}")
                if latencies:
                    print(meter.report(before, after, len(latencies)))
            if created:
                print(f"hosted checkout page GET /i/<id> over {len(created)} of those invoices (mostly first views: "
                      "their QR codes drawn afresh; bench/checkout.py has repeat views and the status poll)")
                pages = [f"http://127.0.0.1:{port}/i/{invoice_id}" for invoice_id in created]
                get_load(pages, 2, 1.0, {"Accept-Language": "en"})  # warm-up: templates, QR codes
                for concurrency in args.concurrency:
                    latencies, errors, wall = get_load(pages, concurrency, args.checkout_seconds, {"Accept-Language": "en"})
                    print(f"  concurrency {concurrency:>3}: {rate_line(latencies, errors, wall, 'pages')}")
        finally:
            if web is not None:
                web.send_signal(signal.SIGTERM)
                web.wait(10)
            devnode.send_signal(signal.SIGTERM)
            devnode.wait(10)


if __name__ == "__main__":
    main()
