"""Fair, bounded work: payloads carry at most ``max_alerts_per_payload``
alerts (413 beyond, naming the cap); a big payload is worked through in
slices that take turns with the entries behind it; the leases of entries
being worked on are renewed, so another replica does not take them over."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures import rigs
from fixtures.backends import Backend
from fixtures.clock import Clock
from fixtures.polling import eventually, incidents_by_fingerprint
from fixtures.processes import Responder
from fixtures.redis_namespace import drop_redis_namespace
from starlette.testclient import TestClient

from responder.app import create_app
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import IncidentFilter, Store

ROUTE = "/webhooks/alertmanager"
CAP = Settings().max_alerts_per_payload


def workload_alert(n: int, prefix: str = "big") -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "KubeDeploymentReplicasMismatch",
            "namespace": "shop",
            "deployment": f"{prefix}-{n:05d}",
            "severity": "warning",
        },
        "fingerprint": f"{prefix}{n:012x}",
    }


def payload(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()


BIG = payload([workload_alert(n) for n in range(CAP)])
NORMAL = payload(
    [
        {
            "status": "firing",
            "labels": {
                "alertname": "KubeJobFailed",
                "namespace": "batch",
                "job_name": "normal-29012345",
                "severity": "warning",
            },
            "fingerprint": "normal000000000000",
        }
    ]
)


# the cap at the door


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("cap") / "state.db"
    settings = Settings(store_url=f"sqlite:///{db}", max_alerts_per_payload=10)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_payload_over_the_alert_cap_is_refused_naming_the_cap(client: TestClient) -> None:
    answer = client.post(ROUTE, content=payload([workload_alert(n) for n in range(11)]))
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert "11 alerts" in error and "at most 10" in error
    assert "max_alerts_per_payload" in error and "max_alerts" in error


def test_a_payload_at_the_alert_cap_is_accepted(client: TestClient) -> None:
    answer = client.post(ROUTE, content=payload([workload_alert(n) for n in range(10)]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 10


# slices that take turns


def runtime_on(store: Store, **settings: object) -> Runtime:
    chosen = Settings.model_validate({"dry_run": True, **settings})
    return rigs.Responder(store, settings=chosen, clock=Clock.from_now()).runtime


def opened(store: Store, prefix: str) -> int:
    """Incidents opened for the big payload's alerts (``big-``) or the normal one."""
    return sum(
        1
        for i in store.list_incidents(IncidentFilter(limit=10_000))
        if i.resource_scope.name.startswith(prefix)
    )


def test_an_alert_behind_a_payload_at_the_cap_takes_its_turn_first(store: Store) -> None:
    runtime = runtime_on(store)
    slice_size = runtime.settings.worker_slice_alerts
    store.enqueue(BIG)
    store.enqueue(NORMAL)
    runtime.worker.drain_once()
    # one round: a slice of the big payload, and the whole of the one behind it
    assert opened(store, "normal-") == 1
    assert opened(store, "big-") == slice_size < CAP
    rounds = 1
    while store.queue_depth():
        runtime.worker.drain_once()
        rounds += 1
    assert opened(store, "big-") == CAP
    assert rounds == -(-CAP // slice_size)


def test_a_payload_that_arrives_later_joins_the_turns(store: Store) -> None:
    runtime = runtime_on(store, worker_slice_alerts=100)
    store.enqueue(BIG)
    runtime.worker.drain_once()
    runtime.worker.drain_once()
    assert opened(store, "big-") == 200
    store.enqueue(NORMAL)
    runtime.worker.drain_once()
    assert opened(store, "normal-") == 1
    assert opened(store, "big-") == 300


def test_the_lease_of_an_entry_worked_on_is_renewed(store: Store) -> None:
    lease = 3.0
    runtime = runtime_on(store, worker_slice_alerts=100, worker_lease_seconds=lease)
    store.enqueue(BIG)
    started = time.monotonic()
    runtime.worker.drain_once()  # claims the entry, works its first slice
    claimed_by = time.monotonic()
    # half the lease has passed, and the renewal comes clearly after the
    # first slice, even when that slice was slow: the check below falls
    # between the first lease's end and the renewed one's
    time.sleep(max(0.5, started + lease / 2 - time.monotonic()))
    runtime.worker.drain_once()  # renewed first
    time.sleep(max(0.0, claimed_by + lease + 0.1 - time.monotonic()))  # past the first lease
    assert store.claim("another-replica", 8, 30.0) == []
    while store.queue_depth():
        runtime.worker.drain_once()
    assert opened(store, "big-") == CAP


def test_a_lease_is_renewed_only_by_its_holder(store: Store) -> None:
    store.enqueue(NORMAL)
    [entry] = store.claim("holder", 8, 0.5)
    assert store.renew_leases("intruder", [entry.id], 30.0) == []
    assert store.renew_leases("holder", [entry.id], 30.0) == [entry.id]
    time.sleep(0.6)
    assert store.claim("another-replica", 8, 30.0) == []


def test_an_expired_lease_is_not_renewed(store: Store) -> None:
    store.enqueue(NORMAL)
    [entry] = store.claim("holder", 8, 0.2)
    time.sleep(0.3)
    assert store.renew_leases("holder", [entry.id], 30.0) == []
    [again] = store.claim("another-replica", 8, 30.0)
    assert again.id == entry.id


# end to end, as Alertmanager sees it


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_an_alert_posted_after_a_payload_at_the_cap_is_processed_within_10_s(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    made = (
        Backend.sqlite(tmp_path)
        if backend == "sqlite"
        else Backend.redis(request.getfixturevalue("redis_url"))
    )
    responder = Responder(made.env, tmp_path).start()
    try:
        with httpx.Client(base_url=responder.url, timeout=10) as client:
            assert client.post(ROUTE, content=BIG).status_code == 200
            posted = time.monotonic()
            assert client.post(ROUTE, content=NORMAL).status_code == 200

            def normal_processed() -> bool:
                answer = client.get("/api/v1/incidents", params={"type": "background_job_buildup"})
                found = incidents_by_fingerprint(answer.json()["incidents"])
                return "normal000000000000" in found

            eventually(normal_processed, 10.0, "the alert behind the big payload")
            assert time.monotonic() - posted < 10.0
    finally:
        responder.stop()
        if backend == "redis":
            drop_redis_namespace(made.url, made.namespace)
