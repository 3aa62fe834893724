"""Print what the demo responder made of the storm (used by scripts/demo.sh)."""

from __future__ import annotations

import sys

import httpx


def main(url: str) -> int:
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
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    print("\n== Metrics")
    for line in metrics.splitlines():
        if line.startswith("ops_") and "_created" not in line and "_bucket" not in line:
            print("   " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
