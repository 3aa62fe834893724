"""The demo's emulated cluster: the Kubernetes API emulator the tests use
(kmock), seeded with a small OKE-like cluster, on 127.0.0.1.

    python scripts/demo_cluster.py DIR

writes DIR/kubeconfig for the responder, then serves until SIGTERM; on
SIGUSR1 it writes every change the responder made to DIR/writes.json (what
the demo report prints).

The cluster is the example storm's world (tests/fixtures/demo_world.py).
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

from fixtures.demo_world import seed  # noqa: E402  (the emulator lives with the tests)
from fixtures.kube import KubeCluster  # noqa: E402


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
