"""``make bench``: how fast the responder takes Alertmanager payloads, works
through a storm of them, and contains an incident on the cluster.

Starts each target as its own uvicorn process on 127.0.0.1 and drives it from
a separate load-generator process (``bench.loadgen``: a few keep-alive
connections, pre-serialised bodies; a raw asyncio HTTP/1.1 client by default,
httpx with ``--client httpx``):

* ``bare``: a Starlette endpoint that only ``json.loads`` the body (the
  ceiling this machine, uvicorn and the client allow);
* ``responder`` with the SQLite store, then with the Redis store.

For each payload size (1, 10, 100 alerts) it measures alerts/s and request
latency under concurrency, then how long the responder's worker takes to
drain what was queued (stopping after ``--drain-timeout`` with an estimate);
for 1-alert posts it also measures one connection posting back to back, idle
and while the worker works through a backlog. Every responder run gets a fresh
process and store (a unique Redis namespace, deleted afterwards).
Then the storm end to end (``bench.storm_bench``: first and second storm,
SQLite and Redis, two Redis replicas), the alert -> contain latency on the
emulated cluster (``bench.contain_bench``), one policy decision
(``bench.policy_bench``) and the admin UI over 10,000 incidents
(``bench.admin_bench``). Each part ends with PASS/FAIL per target; the bench
exits 0 either way.

Options: ``python -m bench.run --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import admin_bench, contain_bench, policy_bench, storm_bench
from bench.harness import (
    HOST,
    LoadGen,
    Server,
    delete_namespace,
    machine_busy_seconds,
    redis_server,
    responder_server,
)

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

# The targets.
TARGET_REDIS_100_ALERTS_PER_S = 2000.0
TARGET_REDIS_100_VS_BARE = 0.25
TARGET_SEQUENTIAL_P99_MS = 20.0


# ---------------------------------------------------------------- results

CONC, SEQ, BUSY = "conc", "seq", "seq-busy"
MODES = {
    CONC: "concurrent connections",
    SEQ: "one connection, back to back, from an empty queue",
    BUSY: "one connection while the worker drains the 100-alert backlog",
}


@dataclass
class Row:
    target: str
    backend: str
    size: int
    mode: str
    result: dict[str, Any]
    server_cpu: float
    rest_cpu: float


@dataclass
class Drain:
    backend: str
    size: int
    accepted_alerts: int
    processed_alerts: int
    outcomes: dict[str, int]
    drain_s: float
    drain_processed: int
    left: int

    def duration_note(self, load_s: float) -> str:
        estimate = self.estimated_drain_s
        needed = "unknown" if estimate is None else f"~{estimate:.0f} s"
        return (
            f"the worker ({self.worker_rate:.0f} alerts/s) needs {needed} to process what"
            f" the webhook accepted in {load_s:g} s"
        )

    @property
    def drained(self) -> bool:
        return self.left == 0

    @property
    def estimated_drain_s(self) -> float | None:
        """Drain time, or (not drained) the time waited plus what is left at worker_rate."""
        if self.drained:
            return self.drain_s
        if self.worker_rate <= 0:
            return None
        left = max(self.accepted_alerts - self.processed_alerts, 0)
        return self.drain_s + left / self.worker_rate

    @property
    def worker_rate(self) -> float:
        """Alerts/s the worker processed after the load stopped (no ingest competing)."""
        return self.drain_processed / self.drain_s if self.drain_s > 0 else 0.0


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    drains: list[Drain] = field(default_factory=list)

    def find(self, target: str, backend: str, size: int, mode: str = CONC) -> Row | None:
        for row in self.rows:
            if (row.target, row.backend, row.size, row.mode) == (target, backend, size, mode):
                return row
        return None


def queue_depth(client: httpx.Client) -> int | None:
    try:
        response = client.get("/readyz", timeout=2.0)
        depth = response.json().get("queue_depth")
    except (httpx.HTTPError, ValueError):
        return None
    return int(depth) if isinstance(depth, int) else None


def processed_outcomes(client: httpx.Client) -> dict[str, int]:
    """``ops_alerts_processed_total`` by outcome, from /metrics."""
    outcomes: dict[str, int] = {}
    with contextlib.suppress(httpx.HTTPError):
        for line in client.get("/metrics", timeout=10.0).text.splitlines():
            if line.startswith("ops_alerts_processed_total{"):
                labels, _, value = line.rpartition(" ")
                outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                outcomes[outcome] = int(float(value))
    return outcomes


def wait_drained(client: httpx.Client, timeout: float) -> tuple[float, int]:
    """Poll /readyz until queue_depth is 0; (seconds waited, depth left or -1)."""
    started = time.perf_counter()
    depth: int | None = None
    while True:
        depth = queue_depth(client)
        if depth == 0 or time.perf_counter() - started >= timeout:
            break
        time.sleep(0.05)
    return time.perf_counter() - started, -1 if depth is None else depth


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, loadgen: LoadGen) -> None:
        self.args = args
        self.tmp = tmp
        self.loadgen = loadgen
        self.results = Results()
        self.run_id = 0
        self.prefix = f"robot-sre-bench-{uuid.uuid4().hex[:8]}"

    def measure(self, server: Server, target: str, backend: str, size: int, mode: str) -> Row:
        self.run_id += 1
        args = self.args
        cpu_before, machine_before = server.cpu(), machine_busy_seconds()
        wall_before = time.perf_counter()
        result = self.loadgen.run(
            url=server.url,
            size=size,
            run=self.run_id,
            concurrency=args.concurrency if mode == CONC else 1,
            warmup=args.warmup,
            duration=args.duration if mode == CONC else args.sequential_duration,
            max_requests=args.max_requests,
            client=args.client,
        )
        wall = max(time.perf_counter() - wall_before, 1e-9)
        cpu = (server.cpu() - cpu_before) / wall
        machine = (machine_busy_seconds() - machine_before) / wall
        rest = max(machine - cpu - float(result["client_cpu"]), 0.0)
        row = Row(target, backend, size, mode, result, cpu, rest)
        self.results.rows.append(row)
        print(
            f"  {target:9} {backend:6} {size:3} alerts {mode:8}"
            f" {result['alerts_per_s']:9.0f} alerts/s  p50 {result['p50_ms']:6.2f} ms"
            f"  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}",
            flush=True,
        )
        if result["first_error"]:
            print(f"    first error: {result['first_error']}")
        return row

    def bare(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare:app",
            "--host",
            HOST,
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        server = Server("bare", argv, dict(os.environ), self.tmp / "bare.log").start()
        try:
            for size in self.args.sizes:
                self.measure(server, "bare", "-", size, CONC)
            if 1 in self.args.sizes:
                self.measure(server, "bare", "-", 1, SEQ)
        finally:
            server.stop()

    def responder(self, backend: str, redis_url: str | None) -> None:
        """One fresh responder process and store per payload size."""
        for size in self.args.sizes:
            name = f"{self.prefix}-{backend}-{size}"
            server = responder_server(
                backend, name, self.tmp, redis_url, ROBOT_SRE_LOG_LEVEL="info"
            )
            drained = False
            try:
                server.start()
                drained = self._responder_run(server, backend, size)
            finally:
                # A worker still busy with a claimed batch would hold a graceful
                # shutdown for seconds; its store is thrown away anyway.
                server.stop(graceful=drained)
                if redis_url is not None:
                    delete_namespace(redis_url, f"{name}:")
                for leftover in self.tmp.glob(f"{name}.*db*"):
                    leftover.unlink()

    def _responder_run(self, server: Server, backend: str, size: int) -> bool:
        """Measure one payload size; True when the worker drained the queue."""
        rows = [self.measure(server, "responder", backend, size, CONC)]
        if size == max(self.args.sizes) and size > 1:
            # One connection posting 1-alert payloads while the worker processes
            # the backlog just queued: what Alertmanager sees right after a burst.
            rows.append(self.measure(server, "responder", backend, 1, BUSY))
        drained = self._drain(server, backend, size, rows)
        if size == 1 and drained:
            # The latency target: one connection posting back to back,
            # starting with an empty queue.
            rows = [self.measure(server, "responder", backend, 1, SEQ)]
            drained = self._drain(server, backend, size, rows, record=False)
        return drained

    def _drain(
        self, server: Server, backend: str, size: int, rows: list[Row], record: bool = True
    ) -> bool:
        """Wait for the queue to empty; record how long it took and at what rate."""
        with httpx.Client(base_url=server.url) as client:
            before = sum(processed_outcomes(client).values())
            drain_s, left = wait_drained(client, self.args.drain_timeout)
            outcomes = processed_outcomes(client)
        processed = sum(outcomes.values())
        drain = Drain(
            backend=backend,
            size=size,
            accepted_alerts=sum(int(row.result["accepted_alerts"]) for row in rows),
            processed_alerts=processed,
            outcomes=outcomes,
            drain_s=drain_s,
            drain_processed=processed - before,
            left=left,
        )
        if record:
            self.results.drains.append(drain)
        state = "drained" if drain.drained else f"NOT drained ({left} payloads left)"
        print(
            f"    worker: {state} {drain.drain_s:.1f} s after the load,"
            f" {drain.worker_rate:.0f} alerts/s meanwhile;"
            f" {drain.processed_alerts} alerts processed in all",
            flush=True,
        )
        return drain.drained


# ---------------------------------------------------------------- report


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_report(results: Results, args: argparse.Namespace) -> None:
    print()
    print(
        f"Webhook ingest ({args.client} client): {args.duration:g} s measured after"
        f" {args.warmup:g} s warm-up per case ({args.sequential_duration:g} s when sequential)"
    )
    for mode, meaning in MODES.items():
        count = f"{args.concurrency} " if mode == CONC else ""
        print(f"  {mode:8} = {count}{meaning}")
    header = (
        f"{'target':10} {'backend':7} {'alerts/payload':>14} {'mode':>8} {'requests':>8}"
        f" {'alerts/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'vs bare':>7}"
        f" {'errors':>6} {'srv CPU':>7} {'cli CPU':>7} {'rest':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in results.rows:
        r = row.result
        bare = results.find("bare", "-", row.size, SEQ if row.mode == BUSY else row.mode)
        ratio = (
            r["alerts_per_s"] / bare.result["alerts_per_s"]
            if row.target != "bare" and bare and bare.result["alerts_per_s"] > 0
            else None
        )
        print(
            f"{row.target:10} {row.backend:7} {row.size:>14} {row.mode:>8}"
            f" {r['requests']:>8} {r['alerts_per_s']:>9.0f} {r['p50_ms']:>7.2f}"
            f" {r['p99_ms']:>7.2f} {fmt_ratio(ratio):>7} {r['errors']:>6}"
            f" {row.server_cpu:>7.0%} {r['client_cpu']:>7.0%} {row.rest_cpu:>5.0%}"
        )
    print(
        "srv/cli CPU: cores used by the server / load generator; rest: by everything else"
        f" (redis-server,\nother work on the machine), of the {os.cpu_count()} cores"
    )

    if results.drains:
        print()
        print("Worker: after the load, /readyz queue_depth polled until 0")
        header = (
            f"{'backend':7} {'alerts/payload':>14} {'accepted':>8} {'processed':>9}"
            f" {'drain s':>8} {'worker alerts/s':>15}  outcomes"
        )
        print(header)
        print("-" * len(header))
        for d in results.drains:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(d.outcomes.items()))
            estimate = d.estimated_drain_s
            if d.drained:
                drain = f"{d.drain_s:.1f}"
            elif estimate is None:
                drain = f">{d.drain_s:.0f}"
            else:
                drain = f"~{estimate:.0f}"
            print(
                f"{d.backend:7} {d.size:>14} {d.accepted_alerts:>8} {d.processed_alerts:>9}"
                f" {drain:>8} {d.worker_rate:>15.0f}  {outcomes}"
            )
        print(
            "accepted: alerts answered 200 in the run (warm-up included); drain s: from the"
            " end of the load\nto queue_depth 0 ('~': not drained within"
            f" {args.drain_timeout:g} s, estimated at the worker's rate); worker alerts/s:"
            "\nalerts processed during the drain / its time, with no ingest competing"
        )

    print()
    print("Targets")
    for verdict, what, detail in check_targets(results):
        print(f"  {verdict}  {what}: {detail}")
    for d in results.drains:
        if not d.drained:
            print(f"  NOTE  {d.backend} {d.size}-alert payloads: {d.duration_note(args.duration)}")


def check_targets(results: Results) -> list[tuple[str, str, str]]:
    """(PASS/FAIL/SKIP, target, measured) for each target of the issue."""
    checks: list[tuple[bool | None, str, str]] = []
    redis_100 = results.find("responder", "redis", 100)
    bare_100 = results.find("bare", "-", 100)
    what = f"redis, 100-alert payloads >= {TARGET_REDIS_100_ALERTS_PER_S:,.0f} alerts/s"
    if redis_100 is None:
        checks.append((None, what, "not measured"))
    else:
        rate = float(redis_100.result["alerts_per_s"])
        ok = rate >= TARGET_REDIS_100_ALERTS_PER_S and redis_100.result["errors"] == 0
        checks.append((ok, what, f"{rate:,.0f} alerts/s"))
    what = f"redis, 100-alert payloads >= {TARGET_REDIS_100_VS_BARE:.0%} of bare"
    if redis_100 is None or bare_100 is None:
        checks.append((None, what, "not measured"))
    else:
        bare_rate = float(bare_100.result["alerts_per_s"])
        ratio = float(redis_100.result["alerts_per_s"]) / max(bare_rate, 1e-9)
        checks.append(
            (ratio >= TARGET_REDIS_100_VS_BARE, what, f"{ratio:.0%} of {bare_rate:,.0f} alerts/s")
        )
    for backend in ("redis", "sqlite"):
        for mode, when in ((SEQ, ""), (BUSY, ", worker draining a backlog")):
            row = results.find("responder", backend, 1, mode)
            if row is None:
                continue
            p99 = float(row.result["p99_ms"])
            checks.append(
                (
                    p99 < TARGET_SEQUENTIAL_P99_MS and row.result["errors"] == 0,
                    f"{backend}, p99 of a 1-alert post < {TARGET_SEQUENTIAL_P99_MS:g} ms"
                    f" (sequential{when})",
                    f"p99 {p99:.2f} ms over {row.result['requests']} posts",
                )
            )
    return [
        ("SKIP" if ok is None else "PASS" if ok else "FAIL", what, detail)
        for ok, what, detail in checks
    ]


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Webhook throughput and latency: responder (SQLite, Redis) vs bare.",
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per case")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per case")
    parser.add_argument("--sequential-duration", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=4, help="connections (default 4)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="per case")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator's HTTP client (default raw; httpx is CPU-bound near 700 req/s)",
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=8.0, help="seconds to wait for the worker"
    )
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 100]
    )
    parser.add_argument(
        "--targets",
        type=lambda s: s.split(","),
        default=["bare", "sqlite", "redis"],
        help="comma-separated: bare, sqlite, redis",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument(
        "--storm-alerts", type=int, default=10_000, help="alerts of the storm (0: no storm)"
    )
    parser.add_argument(
        "--contain-samples", type=int, default=100, help="alerts timed to contain (0: none)"
    )
    parser.add_argument(
        "--background", type=float, default=100.0, help="alerts/s behind the contain samples"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="robot-sre-bench-"))
    loadgen = LoadGen()
    bench = Bench(args, tmp, loadgen)
    storm_targets: list[str] = []
    contain_targets: list[str] = []
    stores = [t for t in args.targets if t in ("sqlite", "redis")]
    try:
        with contextlib.ExitStack() as stack:
            redis_url: str | None = None
            if "redis" in args.targets:
                redis_url = stack.enter_context(redis_server(args.redis_url, tmp))
            print(f"robot-sre bench: {os.cpu_count()} CPUs, {args.client} client; as measured:")
            if "bare" in args.targets:
                bench.bare()
            if "sqlite" in args.targets:
                bench.responder("sqlite", None)
            if redis_url is not None:
                try:
                    bench.responder("redis", redis_url)
                finally:
                    left = delete_namespace(redis_url, f"{bench.prefix}-")
                    if left:
                        print(f"(deleted {left} leftover Redis keys)")
            if args.storm_alerts and stores:
                print(
                    f"\nThe storm: {args.storm_alerts:,} distinct stock alerts, 100-alert payloads,"
                    " 4 connections, from the first post to the last alert processed"
                )
                storm_targets = storm_bench.run(loadgen, tmp, redis_url, args.storm_alerts, stores)
            if args.contain_samples and stores:
                print(
                    "\nAlert -> contain applied on the emulated cluster, under a background of"
                    f" {args.background:g} alerts/s"
                )
                contain_targets = contain_bench.run(
                    loadgen, tmp, redis_url, stores, args.contain_samples, args.background
                )
    finally:
        loadgen.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print_report(bench.results, args)
    for line in storm_targets + contain_targets:
        print(line)
    print("\nPolicy engine: one decision, all layers, per CEL engine")
    for line in policy_bench.run():
        print(line)
    print("\nAdmin UI with 10,000 incidents")
    for line in admin_bench.run():
        print(line)
    print(f"\nbench took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
