"""Alert to contain applied: how long the robot takes to act on the cluster.

A responder (staging, acting for real) is pointed at an emulated cluster
(kmock over HTTP, ``tests/fixtures/kube.py``) holding 20 finished pods in a
``ci-history`` namespace. For each sample, a Job fails in a namespace
``contain-NN`` of its own (two Failed pods appear). While a background of stock storm
workload alerts arrives at ``--background`` alerts/s (10-alert payloads; no
node alerts: a node storm would rightly hold every automatic action), the bench
posts one KubeJobFailed alert per sample namespace, spaced out. The alert
plus the cluster's backlog of finished pods give a high-confidence
``background_job_buildup``; its allowlisted contain action is
``delete_completed_pods`` on ``namespace/contain-NN``. A sample's latency
runs from the moment its post starts to the moment the emulator answered the
delete of the namespace's last finished pod (both clocks are this process's).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import storm
from bench.harness import (
    ROOT,
    LoadGen,
    Server,
    delete_namespace,
    responder_server,
    workspace,
)

sys.path.insert(0, str(ROOT / "tests"))
from fixtures.kube import KubeCluster, pod

TARGET_P99_MS = 250.0
PODS_PER_SAMPLE = 2
HISTORY_PODS = 20
BACKGROUND_PAYLOAD = 10
#: kmock matches a request against all it kept: keep little, or it slows down
KMOCK_HISTORY = 16
FAILED_JOB = "report-29012345"


@dataclass(frozen=True)
class ContainRun:
    backend: str
    latencies_ms: list[float]
    missing: list[str]
    background_alerts_per_s: float
    background_errors: int

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("inf")
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def seed_cluster(cluster: KubeCluster) -> None:
    """The finished pods of past CI runs: the backlog the cleanup signal counts."""
    cluster.add(
        *(
            pod(f"ci-run-{n:03d}", "ci-history", phase="Succeeded", owner=("Job", f"ci-{n:03d}"))
            for n in range(HISTORY_PODS)
        )
    )


def fail_job(cluster: KubeCluster, namespace: str) -> None:
    """A Job of ``namespace`` that failed: its pods, Failed."""
    cluster.add(
        *(
            pod(
                f"{FAILED_JOB}-{n}",
                namespace,
                phase="Failed",
                reason="BackoffLimitExceeded",
                owner=("Job", FAILED_JOB),
            )
            for n in range(PODS_PER_SAMPLE)
        )
    )


def sample_namespace(sample: int) -> str:
    return f"contain-{sample:02d}"


class ContainBench:
    def __init__(
        self,
        loadgen: LoadGen,
        tmp: Path,
        redis_url: str | None,
        backends: list[str],
        samples: int,
        background: float,
        spacing: float,
    ) -> None:
        self.loadgen = loadgen
        self.tmp = tmp
        self.redis_url = redis_url
        self.backends = backends
        self.samples = samples
        self.background = background
        self.spacing = spacing
        self.runs: list[ContainRun] = []
        self.prefix = f"robot-sre-contain-{uuid.uuid4().hex[:8]}"

    def run(self) -> None:
        for backend in self.backends:
            if backend == "redis" and self.redis_url is None:
                continue
            self.runs.append(self.measure(backend))

    @contextmanager
    def world(self, backend: str) -> Iterator[tuple[KubeCluster, Server]]:
        directory = self.tmp / f"contain-{backend}"
        directory.mkdir(exist_ok=True)
        cluster = KubeCluster(directory, keep_requests=KMOCK_HISTORY).start()
        name = f"{self.prefix}-{backend}"
        server = responder_server(
            backend,
            name,
            self.tmp,
            self.redis_url,
            ROBOT_SRE_ENVIRONMENT="staging",
            ROBOT_SRE_DRY_RUN="false",
            ROBOT_SRE_KUBECONFIG=str(cluster.kubeconfig),
        )
        try:
            seed_cluster(cluster)
            server.start()
            yield cluster, server
        finally:
            server.stop(graceful=False)
            cluster.stop()
            if backend == "redis" and self.redis_url is not None:
                delete_namespace(self.redis_url, f"{name}:")

    def measure(self, backend: str) -> ContainRun:
        duration = self.samples * self.spacing + 1.0
        count = int(duration * self.background)
        bodies = self.tmp / f"background-{backend}.jsonl"
        lines = storm.bodies(count, f"bg{backend[:1]}", size=BACKGROUND_PAYLOAD, nodes=0)
        bodies.write_bytes(b"\n".join(lines) + b"\n")
        with self.world(backend) as (cluster, server), httpx.Client(base_url=server.url) as client:
            self.loadgen.start(
                kind="bodies",
                urls=[server.url],
                bodies_file=str(bodies),
                concurrency=2,  # a slow answer does not hold the next post back
                rate=self.background / BACKGROUND_PAYLOAD,
            )
            posted: dict[str, float] = {}
            started = time.perf_counter()
            for sample in range(self.samples):
                delay = started + 0.5 + sample * self.spacing - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                namespace = sample_namespace(sample)
                fail_job(cluster, namespace)
                body = storm.payload(
                    namespace, [storm.job_failed(namespace, FAILED_JOB, f"contain{sample:08x}")]
                )
                posted[namespace] = time.time()
                answer = client.post("/webhooks/alertmanager", content=json.dumps(body))
                answer.raise_for_status()
            background = self.loadgen.result()
            applied = wait_applied(cluster, set(posted), timeout=10.0)
        latencies = [
            (applied[ns] - at) * 1000 for ns, at in posted.items() if applied.get(ns, 0) >= at
        ]
        missing = sorted(ns for ns, at in posted.items() if applied.get(ns, 0) < at)
        sent = count / max(float(background["last_accept_at"]) - background["first_post_at"], 1e-9)
        run = ContainRun(
            backend=backend,
            latencies_ms=latencies,
            missing=missing,
            background_alerts_per_s=sent,
            background_errors=int(background["errors"]),
        )
        print(
            f"  contain {backend:6} {len(latencies)} samples: p50 {run.percentile(0.5):6.1f} ms"
            f"  p99 {run.percentile(0.99):6.1f} ms  max {max(latencies, default=0):6.1f} ms"
            f" (background {sent:.0f} alerts/s, {run.background_errors} errors;"
            f" {len(missing)} not contained)",
            flush=True,
        )
        return run

    def targets(self) -> list[tuple[str, str, str]]:
        checks = []
        for run in self.runs:
            ok = not run.missing and run.percentile(0.99) <= TARGET_P99_MS
            detail = f"p99 {run.percentile(0.99):.0f} ms over {len(run.latencies_ms)} alerts"
            if run.missing:
                detail += f"; never contained: {', '.join(run.missing[:5])}"
            checks.append(
                (
                    "PASS" if ok else "FAIL",
                    f"{run.backend}: alert -> contain applied p99 <= {TARGET_P99_MS:g} ms"
                    f" (background {self.background:g} alerts/s)",
                    detail,
                )
            )
        return checks


def wait_applied(cluster: KubeCluster, namespaces: set[str], timeout: float) -> dict[str, float]:
    """When the last finished pod of each sample namespace was deleted."""
    deadline = time.monotonic() + timeout
    while True:
        deleted: dict[str, list[float]] = {}
        for write in cluster.applied():
            parts = write.path.split("/")
            # /api/v1/namespaces/<ns>/pods/<name>
            pods = write.verb == "delete" and len(parts) == 7 and parts[5] == "pods"
            if pods and parts[4] in namespaces:
                deleted.setdefault(parts[4], []).append(write.at)
        done = {ns: max(times) for ns, times in deleted.items() if len(times) >= PODS_PER_SAMPLE}
        if len(done) == len(namespaces) or time.monotonic() > deadline:
            return done
        time.sleep(0.1)


def run(
    loadgen: LoadGen,
    tmp: Path,
    redis_url: str | None,
    backends: list[str],
    samples: int = 100,
    background: float = 100.0,
    spacing: float = 0.25,
) -> list[str]:
    bench = ContainBench(loadgen, tmp, redis_url, backends, samples, background, spacing)
    bench.run()
    return [f"  {verdict}  {what}: {detail}" for verdict, what, detail in bench.targets()]


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.contain_bench")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--background", type=float, default=100.0, help="alerts/s")
    parser.add_argument("--spacing", type=float, default=0.25, help="seconds between samples")
    parser.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "redis"])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    with workspace("robot-sre-contain-", args.redis_url) as (loadgen, tmp, redis_url):
        lines = run(
            loadgen, tmp, redis_url, args.backends, args.samples, args.background, args.spacing
        )
        for line in lines:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
