"""The storm, end to end: distinct stock alerts posted as Alertmanager would,
timed from the first post to the last alert processed.

For each store (SQLite, Redis) a fresh responder process (staging, dry-run)
takes a storm of ``--storm-alerts`` distinct alerts (``bench.storm``: the
stock kube-prometheus-stack set over 12 nodes and 40 namespaces, 100-alert
payloads grouped by namespace) over 4 connections; the bench polls the
responder's ``ops_alerts_processed_total`` until every alert is counted.
Then a second storm of new alerts while the first storm's incidents are
still open (topped up, untimed, to as many open incidents as the storm has
alerts: a storm's node alerts share their nodes' incidents). On Redis the
first storm is run again on two replicas sharing the store (the connections
split between them), against one replica's rate.

``contain`` measures, on the emulated cluster (kmock), the time from an
alert's post to its allowlisted containment applied (the finished pods of
its namespace deleted), while a background of other alerts arrives.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import storm
from bench.harness import LoadGen, Server, delete_namespace, responder_server, workspace

TARGET_ALERTS_PER_S = 2000.0
TARGET_SECOND_STORM = 0.8
TARGET_REPLICAS = 1.5
CONNECTIONS = 4
PROCESS_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class StormRun:
    backend: str
    replicas: int
    which: str
    alerts: int
    seconds: float
    open_before: int
    open_after: int
    posts: int
    retries: int
    errors: int
    post_p99_ms: float

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds if self.seconds > 0 else 0.0


def processed(client: httpx.Client) -> int:
    """``ops_alerts_processed_total`` summed over outcomes (0 when unreadable)."""
    total = 0.0
    try:
        text = client.get("/metrics", params={"name[]": "ops_alerts_processed_total"}).text
    except httpx.HTTPError:
        return 0
    for line in text.splitlines():
        if line.startswith("ops_alerts_processed_total{"):
            total += float(line.rpartition(" ")[2])
    return int(total)


def open_incidents(client: httpx.Client) -> int:
    total = 0.0
    text = client.get("/metrics", params={"name[]": "ops_incidents_open_total"}, timeout=60).text
    for line in text.splitlines():
        if line.startswith("ops_incidents_open_total{"):
            total += float(line.rpartition(" ")[2])
    return int(total)


class StormBench:
    def __init__(
        self, loadgen: LoadGen, tmp: Path, redis_url: str | None, alerts: int, backends: list[str]
    ) -> None:
        self.loadgen = loadgen
        self.tmp = tmp
        self.redis_url = redis_url
        self.alerts = alerts
        self.backends = backends
        self.runs: list[StormRun] = []
        self.prefix = f"robot-sre-storm-{uuid.uuid4().hex[:8]}"
        self._bodies: dict[str, Path] = {}

    def bodies(self, seed: str) -> Path:
        """The storm ``seed`` as a file of bodies, one a line (made once)."""
        if seed not in self._bodies:
            path = self.tmp / f"storm-{seed}.jsonl"
            path.write_bytes(b"\n".join(storm.bodies(self.alerts, seed)) + b"\n")
            self._bodies[seed] = path
        return self._bodies[seed]

    def run(self) -> None:
        for backend in self.backends:
            if backend == "redis" and self.redis_url is None:
                continue
            with self.responders(backend, 1) as servers:
                first = self.storm(servers, backend, "first", "a")
                # node alerts share incidents: top the open ones up to the storm's size
                open_now = self.top_up(servers, first.open_after)
                second = self.storm(servers, backend, "second", "b", open_now)
                self.runs += [first, second]
            if backend == "redis":
                with self.responders(backend, 2) as servers:
                    self.runs.append(self.storm(servers, backend, "first", "a"))

    def top_up(self, servers: list[Server], open_now: int) -> int:
        """Open incidents (one workload alert each, not timed) until as many are
        open as the storm has alerts; how many are open then."""
        missing = self.alerts - open_now
        if missing <= 0:
            return open_now
        path = self.tmp / "top-up.jsonl"
        path.write_bytes(b"\n".join(storm.bodies(missing, "t", nodes=0)) + b"\n")
        with httpx.Client(base_url=servers[0].url, timeout=10.0) as client:
            before = processed(client)
            self.loadgen.run(
                kind="bodies", urls=[servers[0].url], bodies_file=str(path), concurrency=1
            )
            deadline = time.time() + PROCESS_TIMEOUT_S
            while processed(client) - before < missing and time.time() < deadline:
                time.sleep(0.05)
            return open_incidents(client)

    @contextmanager
    def responders(self, backend: str, replicas: int) -> Iterator[list[Server]]:
        name = f"{self.prefix}-{backend}-{replicas}"
        servers = [
            responder_server(
                backend, name, self.tmp, self.redis_url, n, ROBOT_SRE_ENVIRONMENT="staging"
            )
            for n in range(replicas)
        ]
        try:
            for server in servers:
                server.start()
            yield servers
        finally:
            for server in servers:
                server.stop(graceful=False)
            if self.redis_url is not None and backend == "redis":
                delete_namespace(self.redis_url, f"{name}:")
            for leftover in self.tmp.glob(f"{name}.*db*"):
                leftover.unlink()

    def storm(
        self, servers: list[Server], backend: str, which: str, seed: str, open_before: int = 0
    ) -> StormRun:
        clients = [httpx.Client(base_url=s.url, timeout=10.0) for s in servers]
        try:
            before = sum(processed(c) for c in clients)
            self.loadgen.start(
                kind="bodies",
                urls=[s.url for s in servers],
                bodies_file=str(self.bodies(seed)),
                concurrency=CONNECTIONS,
            )
            deadline = time.time() + PROCESS_TIMEOUT_S
            done_at = None
            while time.time() < deadline:
                if sum(processed(c) for c in clients) - before >= self.alerts:
                    done_at = time.time()
                    break
                time.sleep(0.02)
            posted = self.loadgen.result()
            if done_at is None:
                raise RuntimeError(
                    f"{backend}: the storm was not processed within {PROCESS_TIMEOUT_S:g} s"
                )
            after = open_incidents(clients[0])
        finally:
            for client in clients:
                client.close()
        run = StormRun(
            backend=backend,
            replicas=len(servers),
            which=which,
            alerts=self.alerts,
            seconds=done_at - float(posted["first_post_at"]),
            open_before=open_before,
            open_after=after,
            posts=int(posted["posts"]),
            retries=int(posted["retries"]),
            errors=int(posted["errors"]),
            post_p99_ms=float(posted["p99_ms"]),
        )
        print(
            f"  storm {backend:6} x{run.replicas} {which:6} {run.alerts} alerts in"
            f" {run.seconds:6.2f} s = {run.rate:7.0f} alerts/s end to end"
            f" ({run.open_before} incidents open before, {run.open_after} after;"
            f" post p99 {run.post_p99_ms:.1f} ms, {run.retries} retried, {run.errors} errors)",
            flush=True,
        )
        return run

    def find(self, backend: str, which: str, replicas: int = 1) -> StormRun | None:
        for run in self.runs:
            if (run.backend, run.which, run.replicas) == (backend, which, replicas):
                return run
        return None

    def targets(self) -> list[tuple[str, str, str]]:
        """(PASS/FAIL, target, measured) for each storm target."""
        checks: list[tuple[bool, str, str]] = []
        for backend in self.backends:
            first = self.find(backend, "first")
            second = self.find(backend, "second")
            if first is None or second is None:
                continue
            checks.append(
                (
                    first.rate >= TARGET_ALERTS_PER_S and first.errors == 0,
                    f"{backend}: a {first.alerts:,}-alert storm >= {TARGET_ALERTS_PER_S:,.0f}"
                    " alerts/s end to end",
                    f"{first.rate:,.0f} alerts/s ({first.seconds:.2f} s)",
                )
            )
            ratio = second.rate / first.rate if first.rate else 0.0
            checks.append(
                (
                    ratio >= TARGET_SECOND_STORM,
                    f"{backend}: the second storm ({second.open_before:,} incidents open) >="
                    f" {TARGET_SECOND_STORM:.0%} of the first",
                    f"{second.rate:,.0f} alerts/s = {ratio:.0%}",
                )
            )
        one, two = self.find("redis", "first"), self.find("redis", "first", 2)
        if one is not None and two is not None:
            ratio = two.rate / one.rate if one.rate else 0.0
            checks.append(
                (
                    ratio >= TARGET_REPLICAS,
                    f"redis: two replicas >= {TARGET_REPLICAS:g}x one replica's rate",
                    f"{two.rate:,.0f} vs {one.rate:,.0f} alerts/s = {ratio:.2f}x",
                )
            )
        return [("PASS" if ok else "FAIL", what, detail) for ok, what, detail in checks]


def run(
    loadgen: LoadGen, tmp: Path, redis_url: str | None, alerts: int, backends: list[str]
) -> list[str]:
    bench = StormBench(loadgen, tmp, redis_url, alerts, backends)
    bench.run()
    return [f"  {verdict}  {what}: {detail}" for verdict, what, detail in bench.targets()]


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.storm_bench")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "redis"])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    with workspace("robot-sre-storm-", args.redis_url) as (loadgen, tmp, redis_url):
        for line in run(loadgen, tmp, redis_url, args.alerts, args.backends):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
