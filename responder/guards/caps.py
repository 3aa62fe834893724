"""Caps on how much the robot changes per window: pods deleted and workloads
scaled down, per namespace and per cluster.

Counts are rolling and kept in the store under a lock, so replicas cannot both
take the last slot; a reservation that cannot be settled stands, so a cap
never counts low. Scaling up is never capped: a cap must not block a rollback."""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from responder.records.action import ActionOutcome, Plan
from responder.settings import ActionCapSettings
from responder.store import LockBusy, Store, held_lock

CAPS_LOCK = "action-caps"
PODS_DELETED = "pods_deleted"
WORKLOADS_SCALED = "workloads_scaled"
CLUSTER = "*"
"""the namespace key of the cluster-wide counter (never a namespace's name)"""
_LOCK_TTL_SECONDS = 10.0
_LOCK_WAIT_SECONDS = 5.0
_DELETED = re.compile(r"^deleted (\d+) of \d+ finished pods")

Entry = tuple[float, int, str]
"""one use: when (epoch seconds), how many, the reservation's token"""


class CapExceeded(RuntimeError):
    """Running the plan would take a count past its cap; the text says which."""


class CapsBusy(RuntimeError):
    """The caps lock stayed held by another replica."""


@dataclass(frozen=True)
class Usage:
    """What one plan would change, counted per namespace."""

    pods_deleted: Mapping[str, int] = field(default_factory=dict)
    workloads_scaled: Mapping[str, int] = field(default_factory=dict)
    pods_deleted_total: int | None = None
    """the cluster-wide count when it is less than the namespaces' sum (the
    executor reports one total of what it deleted)"""

    def __bool__(self) -> bool:
        return any(self.pods_deleted.values()) or any(self.workloads_scaled.values())

    def counts(self) -> Iterator[tuple[str, str, int]]:
        """(counter, namespace or CLUSTER, amount) for every count the usage adds to."""
        for counter, by_namespace in (
            (PODS_DELETED, self.pods_deleted),
            (WORKLOADS_SCALED, self.workloads_scaled),
        ):
            total = 0
            for namespace, amount in sorted(by_namespace.items()):
                if amount > 0:
                    total += amount
                    yield counter, namespace, amount
            if counter == PODS_DELETED and self.pods_deleted_total is not None:
                total = min(total, self.pods_deleted_total)
            if total > 0:
                yield counter, CLUSTER, total


@dataclass(frozen=True)
class Reservation:
    token: str
    usage: Usage


def usage_of(plan: Plan) -> Usage:
    """What applying ``plan`` would count against the caps (nothing for
    actions the caps do not cover, or a plan that changes nothing)."""
    action, changes = plan.request.action, plan.changes
    if not changes or changes.get("refused"):
        return Usage()
    if action == "delete_completed_pods":
        pods: Counter[str] = Counter(
            str(p.get("namespace") or "") for p in changes.get("delete") or []
        )
        return Usage(pods_deleted=dict(pods))
    # any scale-down: scale_to_zero, and resume_workload, scale_dependency,
    # the shared-controller actions and disable_subsystem when they lower replicas
    if "replicas" in changes and "replicas" in plan.previous:
        before = int(plan.previous.get("replicas") or 0)
        if int(changes["replicas"]) < before:
            return Usage(workloads_scaled={plan.request.target.namespace or "": 1})
    return Usage()


def used_by(reserved: Usage, outcome: ActionOutcome) -> Usage:
    """What the run actually used, as far as the outcome tells: nothing when
    nothing was applied, the pods the executor reports deleted, else all
    that was reserved."""
    if outcome.result in ("skipped", "not_available"):
        return Usage()
    if not reserved.pods_deleted:
        return reserved
    found = _DELETED.match(outcome.detail)
    if found is None:
        return reserved
    deleted = int(found.group(1))
    # the executor reports one total: no namespace is counted above it
    return Usage(
        pods_deleted={ns: min(n, deleted) for ns, n in reserved.pods_deleted.items()},
        workloads_scaled=reserved.workloads_scaled,
        pods_deleted_total=deleted,
    )


@dataclass(eq=False)
class ActionCaps:
    """The rolling counts in the store, and the check against the caps."""

    store: Store
    settings: ActionCapSettings
    clock: Callable[[], datetime]

    def cap(self, counter: str, namespace: str) -> tuple[str, int]:
        """The setting's name and value that limits ``counter`` in ``namespace``."""
        name = f"{counter}_per_{'namespace' if namespace != CLUSTER else 'cluster'}"
        value: int = getattr(self.settings, name)
        return name, value

    def count(self, counter: str, namespace: str = CLUSTER) -> int:
        """The current rolling count (CLUSTER: cluster-wide)."""
        cutoff = self.clock().timestamp() - self.settings.window_seconds
        return sum(e[1] for e in self._entries(counter, namespace) if e[0] > cutoff)

    def reserve(self, usage: Usage) -> Reservation:
        """Take ``usage`` from the caps, or raise ``CapExceeded`` (nothing
        taken) naming the first cap it would exceed."""
        token = secrets.token_hex(8)
        window = self.settings.window_seconds
        with self._locked():
            now = self.clock().timestamp()
            cutoff = now - window
            current = {
                (counter, namespace): [
                    e for e in self._entries(counter, namespace) if e[0] > cutoff
                ]
                for counter, namespace, _ in usage.counts()
            }
            for counter, namespace, amount in usage.counts():
                used = sum(e[1] for e in current[(counter, namespace)])
                name, limit = self.cap(counter, namespace)
                if used + amount > limit:
                    what = "pods deleted" if counter == PODS_DELETED else "workloads scaled down"
                    where = f"in namespace {namespace}" if namespace != CLUSTER else "cluster-wide"
                    raise CapExceeded(
                        f"{amount} more {what} {where} would make {used + amount} within "
                        f"{window}s, over the cap {name} of {limit} ({used} already)"
                    )
            for counter, namespace, amount in usage.counts():
                entries = [*current[(counter, namespace)], (now, amount, token)]
                self._write(counter, namespace, entries)
        return Reservation(token, usage)

    def settle(self, reservation: Reservation, used: Usage) -> None:
        """Replace the reservation's counts with ``used`` (never more)."""
        actual = {(c, ns): n for c, ns, n in used.counts()}
        with self._locked():
            for counter, namespace, _ in reservation.usage.counts():
                kept: list[Entry] = []
                for at, amount, token in self._entries(counter, namespace):
                    if token == reservation.token:
                        amount = min(amount, actual.get((counter, namespace), 0))
                        if amount <= 0:
                            continue
                    kept.append((at, amount, token))
                self._write(counter, namespace, kept)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with held_lock(self.store, CAPS_LOCK, _LOCK_TTL_SECONDS, _LOCK_WAIT_SECONDS):
                yield
        except LockBusy as exc:
            raise CapsBusy(f"the lock {CAPS_LOCK} stayed busy for {_LOCK_WAIT_SECONDS:g}s") from exc

    def _key(self, counter: str, namespace: str) -> str:
        scope = f"namespace:{namespace}" if namespace != CLUSTER else "cluster"
        return f"caps:{counter}:{scope}"

    def _entries(self, counter: str, namespace: str) -> list[Entry]:
        raw = self.store.get_key(self._key(counter, namespace))
        if not raw:
            return []
        return [(float(at), int(amount), str(token)) for at, amount, token in json.loads(raw)]

    def _write(self, counter: str, namespace: str, entries: list[Entry]) -> None:
        """Only called under the caps lock: the delete and create are one change."""
        key = self._key(counter, namespace)
        self.store.delete_key(key)
        if entries:
            self.store.set_if_absent(
                key, json.dumps(entries), float(self.settings.window_seconds + 60)
            )
