"""The demo's emulated cluster: the Kubernetes API emulator the tests use
(kmock), seeded with a small OKE-like cluster, on 127.0.0.1.

    python scripts/demo_cluster.py DIR

writes DIR/kubeconfig for the responder, then serves until SIGTERM; on
SIGUSR1 it writes every change the responder made to DIR/writes.json (what
the demo report prints).

The cluster: three workers named by address as OKE names them; 10.0.10.202 in
DiskPressure (tainted, with the kubelet's eviction events) and 10.0.10.201
healthy but reported by an alert that is about to resolve; finished pods of
Tekton runs and of the trivy-db-warmup CronJob; the ingress-nginx controller
and cert-manager (protected: never touched automatically) with finished
pods of their own; the image-factory backend that cannot pull its image.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.kube import (  # noqa: E402  (the emulator lives with the tests)
    KubeCluster,
    cronjob,
    deployment,
    node,
    pod,
    pressure_events,
    protected_finished_pods,
)

PRESSED = "10.0.10.202"
WORKERS = ("10.0.10.201", PRESSED, "10.0.10.203")


def seed(cluster: KubeCluster) -> None:
    cluster.add(
        *(
            node(
                name,
                disk_pressure=name == PRESSED,
                taints=["node.kubernetes.io/disk-pressure"] if name == PRESSED else [],
                labels={"oci.oraclecloud.com/fault-domain": f"FAULT-DOMAIN-{n + 1}"},
            )
            for n, name in enumerate(WORKERS)
        ),
        *pressure_events(PRESSED),
        cronjob("trivy-db-warmup", "trivy-system"),
        deployment(
            "ingress-nginx-controller",
            "ingress-nginx",
            image="registry.k8s.io/ingress-nginx/controller:v1.11",
            labels={"tier": "core"},
        ),
        deployment("cert-manager", "cert-manager", labels={"tier": "core"}),
        *protected_finished_pods(PRESSED),
        deployment(
            "backend",
            "image-factory",
            image="registry.example/image-factory/backend:2.4.1",
            pull_secrets=["ocir-pull"],
            available=0,
        ),
        pod(
            "backend-7c9f8d6b5-x2k4q",
            "image-factory",
            owner=("ReplicaSet", "backend-7c9f8d6b5"),
            node_name="10.0.10.203",
            waiting=("ImagePullBackOff", "Back-off pulling image"),
            image="registry.example/image-factory/backend:2.4.1",
            pull_secrets=["ocir-pull"],
        ),
        *(
            pod(
                f"trivy-db-warmup-2911{n:02d}-x{n:02d}",
                "trivy-system",
                phase="Succeeded",
                owner=("Job", f"trivy-db-warmup-2911{n:02d}"),
                node_name=PRESSED,
            )
            for n in range(12)
        ),
        *(
            pod(
                f"build-run-{n:02d}-pod",
                "tekton-pipelines",
                phase="Failed" if n % 3 == 0 else "Succeeded",
                owner=("TaskRun", f"build-run-{n:02d}"),
                node_name=PRESSED,
            )
            for n in range(18)
        ),
    )


def written(cluster: KubeCluster) -> list[dict[str, Any]]:
    return [{"verb": w.verb, "path": w.path} for w in cluster.applied()]


def main(directory: str) -> int:
    where = Path(directory)
    where.mkdir(parents=True, exist_ok=True)
    cluster = KubeCluster(where, keep_requests=5000).start()
    seed(cluster)
    stop = threading.Event()

    def dump(*_: object) -> None:
        (where / "writes.json").write_text(json.dumps(written(cluster), indent=1))

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"emulated cluster on {cluster.url} (kubeconfig {cluster.kubeconfig})", flush=True)
    while not stop.wait(0.2):
        pass
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
