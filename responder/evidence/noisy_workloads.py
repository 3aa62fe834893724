"""The workloads that fill a node's ephemeral storage.

The kubelet evicts the pods using the most of it and says how much
("Container builder was using 5Gi, request is 0, has larger consumption of
ephemeral-storage"), on the evicted pod and in its ``Evicted`` event. The
Deployments and StatefulSets whose pods it evicted most (then used most)
are what ``scale_to_zero`` could contain; core workloads are left out."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from responder.evidence import kube_objects as objects
from responder.evidence import owners
from responder.evidence.kube_objects import JSON
from responder.records.target import Target

SCALABLE_KINDS = frozenset({"deployment", "statefulset"})
USAGE = re.compile(r"Container \S+ was using (\d+(?:\.\d+)?)([KMGTPE]i?|k)?\b")
UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


@dataclass(frozen=True)
class NoisyWorkload:
    target: Target
    evictions: int
    used_bytes: int
    """the most ephemeral storage the kubelet saw one of its containers use"""

    def describe(self) -> str:
        used = f", one using {_human(self.used_bytes)}" if self.used_bytes else ""
        where = f"{self.target.kind} {self.target.namespace}/{self.target.name}"
        return f"{where} ({self.evictions} evicted{used})"


def used_bytes(message: str) -> int:
    """The most ephemeral storage an eviction message says a container used."""
    found = [int(float(number) * UNITS.get(unit, 1)) for number, unit in USAGE.findall(message)]
    return max(found, default=0)


def noisy_workloads(
    pods: list[JSON],
    evictions: list[JSON],
    is_core: Callable[[Mapping[str, Any]], bool],
    limit: int = 3,
) -> list[NoisyWorkload]:
    """The ``limit`` Deployments and StatefulSets with the most evicted pods
    among ``pods`` (evicted pods, and pods an ``evictions`` event names),
    then the most storage used; none whose pods ``is_core``."""
    by_key = {objects.key(p): p for p in pods}
    said: dict[tuple[str, str], str] = {
        key: str((pod.get("status") or {}).get("message", ""))
        for key, pod in by_key.items()
        if (pod.get("status") or {}).get("reason") == "Evicted"
    }
    for event in evictions:
        key = objects.involved(event)
        if key in by_key:
            said[key] = said.get(key, "") + " " + str(event.get("message", ""))
    tally: dict[Target, tuple[int, int]] = {}
    for key, message in said.items():
        pod = by_key[key]
        workload = owners.pod_workload(pod)
        if workload is None or workload.kind not in SCALABLE_KINDS or is_core(pod):
            continue
        count, used = tally.get(workload, (0, 0))
        tally[workload] = (count + 1, max(used, used_bytes(message)))
    ranked = sorted(tally.items(), key=lambda item: (-item[1][0], -item[1][1], item[0].name))
    return [NoisyWorkload(target, count, used) for target, (count, used) in ranked[:limit]]


def _human(size: int) -> str:
    for unit in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        if size >= UNITS[unit]:
            return f"{size / UNITS[unit]:.1f}{unit}"
    return f"{size}B"
