"""The load generator: a separate process driven over stdin/stdout.

Each line on stdin is one job (JSON: url, size, run, concurrency, warmup,
duration, max_requests, client); the answer is one JSON line on stdout. One process
serves the whole bench so that its start-up (importing httpx) is paid once.

Kept light for a 2-core machine: bodies come from a pre-serialised template
(``bench.payloads.BodyFactory``), one asyncio loop, ``concurrency`` keep-alive
connections, and latencies are kept as floats until the job ends.

Two clients: ``httpx`` (``httpx.AsyncClient``, what a Python sender would
use) and ``raw`` (HTTP/1.1 over asyncio streams: one write per request, the
response read by Content-Length). httpx costs about 1 ms of CPU per request
on this machine, more than a bare endpoint spends answering it, so with
httpx the "bare" figures measure the client; ``raw`` costs a few tens of
microseconds and lets the servers be the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

import httpx

from bench.payloads import BodyFactory

PATH = "/webhooks/alertmanager"
HEADERS = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.27.0"}


class Job(TypedDict, total=False):
    kind: str
    url: str
    size: int
    run: int
    concurrency: int
    warmup: float
    duration: float
    max_requests: int
    client: str


Post = Callable[[bytes], Awaitable[tuple[int, bytes]]]


class RawConnection:
    """One keep-alive HTTP/1.1 connection posting to PATH."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
            + "Content-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        answer = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.4999999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def run_job(job: Job) -> dict[str, Any]:
    factory = BodyFactory(job["size"], job["run"])
    concurrency = job["concurrency"]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    first_error: list[str] = []
    serial = 0
    warm_ok = 0
    last_end = 0.0

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(base_url=job["url"], limits=limits, timeout=30.0)
    raw = [RawConnection(job["url"]) for _ in range(concurrency)]

    async def post_httpx(body: bytes) -> tuple[int, bytes]:
        response = await client.post(PATH, content=body, headers=HEADERS)
        return response.status_code, response.content

    cpu_start = time.process_time()
    start = time.perf_counter()
    measure_at = start + job["warmup"]
    stop_at = measure_at + job["duration"]

    async def worker(post: Post) -> None:
        nonlocal serial, warm_ok, last_end
        while True:
            now = time.perf_counter()
            if now >= stop_at or len(latencies) >= job["max_requests"]:
                return
            serial += 1
            body = factory.body(serial)
            began = time.perf_counter()
            try:
                code, answer = await asyncio.wait_for(post(body), 30.0)
                status = str(code)
                if code != 200 and not first_error:
                    first_error.append(f"{status}: {answer[:300]!r}")
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                status = type(exc).__name__
                if not first_error:
                    first_error.append(f"{status}: {exc}")
            ended = time.perf_counter()
            if began < measure_at:
                warm_ok += status == "200"
                continue
            latencies.append(ended - began)
            statuses[status] += 1
            last_end = max(last_end, ended)

    try:
        if job["client"] == "raw":
            await asyncio.gather(*(worker(conn.post) for conn in raw))
        else:
            await asyncio.gather(*(worker(post_httpx) for _ in range(concurrency)))
        finished = time.perf_counter()
        cpu = time.process_time() - cpu_start
    finally:
        await client.aclose()
        for conn in raw:
            await conn.close()

    latencies.sort()
    ok = statuses.get("200", 0)
    elapsed = max(last_end - measure_at, 1e-9)
    return {
        "requests": len(latencies),
        "ok": ok,
        "accepted_alerts": (ok + warm_ok) * job["size"],
        "errors": len(latencies) - ok,
        "statuses": dict(statuses),
        "first_error": first_error[0] if first_error else None,
        "elapsed": elapsed,
        "requests_per_s": ok / elapsed,
        "alerts_per_s": ok * job["size"] / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else 0.0,
        "client_cpu": cpu / max(finished - start, 1e-9),
    }


async def run_bodies(job: dict[str, Any]) -> dict[str, Any]:
    """Post every body of ``bodies_file`` (one JSON body a line) once, over
    ``concurrency`` connections to ``urls`` (round-robin), as fast as the
    server answers, or at ``rate`` bodies/s. A 503 is retried after its
    Retry-After, as Alertmanager does; the answer says when the first post
    started (wall clock) and when the last was accepted."""
    bodies = [line.encode() for line in Path(job["bodies_file"]).read_text().splitlines() if line]
    urls: list[str] = job["urls"]
    concurrency: int = job["concurrency"]
    rate: float | None = job.get("rate")
    connections = [RawConnection(urls[i % len(urls)]) for i in range(concurrency)]
    latencies: list[float] = []
    retries = 0
    errors: list[str] = []
    next_body = 0
    first_post_at: float | None = None
    last_accept_at = 0.0
    started = time.perf_counter()

    async def worker(connection: RawConnection) -> None:
        nonlocal next_body, retries, first_post_at, last_accept_at
        while next_body < len(bodies):
            index = next_body
            next_body += 1
            if rate:
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            while True:
                if first_post_at is None:
                    first_post_at = time.time()
                began = time.perf_counter()
                try:
                    code, answer = await asyncio.wait_for(connection.post(bodies[index]), 30.0)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    await connection.close()
                    await asyncio.sleep(0.05)
                    continue
                latencies.append(time.perf_counter() - began)
                if code == 503:
                    retries += 1
                    await asyncio.sleep(0.05)
                    continue
                if code != 200:
                    errors.append(f"{code}: {answer[:200]!r}")
                last_accept_at = time.time()
                break

    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            await connection.close()
    latencies.sort()
    return {
        "posts": len(bodies),
        "retries": retries,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "first_post_at": first_post_at,
        "last_accept_at": last_accept_at,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        job: Job = json.loads(line)
        try:
            if job.get("kind") == "bodies":
                result = asyncio.run(run_bodies(dict(job)))
            else:
                result = asyncio.run(run_job(job))
        except Exception as exc:  # report, keep serving the next job
            result = {"failed": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
