"""Print what the demo responder made of the storm (used by scripts/demo.sh):
the incidents and their decisions, what the robot wrote to the emulated
cluster (``writes.json`` of scripts/demo_cluster.py, when given), the
approval requests waiting for a person, and the metrics."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import httpx

#: the demo cluster's namespaces the never-auto list protects
PROTECTED = ("ingress-nginx", "cert-manager")


def main(url: str, writes: str | None = None) -> int:
    incidents = httpx.get(f"{url}/api/v1/incidents", timeout=5).json()["incidents"]
    print(f"\n== {len(incidents)} incidents")
    print(f"{'type':<32} {'state':<11} {'severity':<9} {'confidence':<10} {'scope':<36} alerts dup")
    for incident in reversed(incidents):
        scope = incident["resource_scope"]
        where = "/".join(p for p in (scope["kind"], scope["namespace"], scope["name"]) if p)
        print(
            f"{incident['incident_type']:<32} {incident['state']:<11} "
            f"{incident['severity']:<9} {incident['confidence']:<10} {where:<36} "
            f"{len(incident['alerts']):>6} {incident['duplicates_suppressed']:>3}"
        )
        for action in incident["recommended_actions"]:
            print(f"    {action['decision']:<10} {action['action']:<24} {action['reason']}")
    if writes is not None:
        applied = json.loads(Path(writes).read_text())
        print(f"\n== Written to the emulated cluster by the robot: {len(applied)} change(s)")
        grouped = Counter((w["verb"], w["path"].rsplit("/", 1)[0]) for w in applied)
        for (verb, where), count in grouped.items():
            print(f"   {verb:<7} {count:>3} x {where}/…")
        protected = [
            w for w in applied if any(f"/namespaces/{ns}/" in w["path"] for ns in PROTECTED)
        ]
        if not protected:
            print(f"   nothing in {' or '.join(PROTECTED)}: protected, never touched on its own")
        for write in protected:
            print(f"   PROTECTED TOUCHED: {write['verb']} {write['path']}")
    approvals = httpx.get(f"{url}/api/v1/approvals", timeout=5).json()["approvals"]
    pending = [a for a in approvals if a["state"] == "pending"]
    print(f"\n== Waiting for a person: {len(pending)} approval request(s)")
    for approval in pending:
        target = approval["target"] or {}
        where = "/".join(
            p for p in (target.get("kind"), target.get("namespace"), target.get("name")) if p
        )
        print(f"   {approval['action']:<24} {where:<36} /admin/approvals")
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    print("\n== Metrics")
    for line in metrics.splitlines():
        if line.startswith("ops_") and "_created" not in line and "_bucket" not in line:
            print("   " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
