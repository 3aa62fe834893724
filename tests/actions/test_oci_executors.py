"""OCI executors through the real ``oci`` SDK, pointed at a local server that
speaks the compute and container engine REST paths (``fixtures/oci_api.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from fixtures.http_stub import Answer
from fixtures.incidents import make_incident
from fixtures.oci_api import (  # noqa: F401  (oci_api, oci_key: fixtures)
    POOL,
    TENANCY,
    OciApi,
    instance_ocid,
    oci_api,
    oci_key,
)
from fixtures.rigs import Responder, at_once, shared_redis

from responder.actions.executor import Executor
from responder.actions.oci_workers import RebootWorker, ReplaceWorker
from responder.oci_clients import ProviderIdInstances, short
from responder.records.action import ActionRequest, ActionRun, Change
from responder.records.levels import Confidence, Severity
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.store import Store, open_store

NODE = "10.0.10.202"
PROVIDER_IDS = {NODE: f"oci://{instance_ocid(202)}", "10.0.10.201": f"oci://{instance_ocid(201)}"}
SOFTRESET = r"/20160918/instances/[^/]+"


def _instances() -> ProviderIdInstances:
    return ProviderIdInstances(read_provider_id=PROVIDER_IDS.get)


def _request(action: str, node: str = NODE, **params: object) -> ActionRequest:
    return ActionRequest(action, Target(kind="node", name=node), "inc-oci", dict(params))


INCIDENT = make_incident(
    "inc-oci",
    node=NODE,
    severity=Severity.critical,
    confidence=Confidence.high,
    state=IncidentState.observed,
)


def oci_rig(api: OciApi, store: Store) -> Responder:
    clients = api.clients()
    executors: list[Executor] = [
        RebootWorker(clients, _instances()),
        ReplaceWorker(clients, _instances()),
    ]
    return Responder(store, executors=executors)


@pytest.fixture
def rig(oci_api: OciApi, tmp_path: Path) -> Iterator[Responder]:  # noqa: F811
    built = oci_rig(oci_api, open_store(f"sqlite:///{tmp_path}/state.db"))
    try:
        yield built
    finally:
        built.store.close()


def _run(rig: Responder, request: ActionRequest, decision: str = "auto") -> ActionRun:
    return rig.runtime.runner.run(INCIDENT.model_copy(deep=True), request, decision)


# reboot


def test_reboot_soft_resets_the_instance_behind_the_nodes_provider_id(
    oci_api: OciApi,  # noqa: F811
) -> None:
    worker = RebootWorker(oci_api.clients(), _instances())
    outcome = worker.apply(worker.plan(_request("reboot_worker")))
    assert outcome.result == "succeeded", outcome.detail
    [write] = oci_api.writes()
    assert (write.method, write.path) == ("POST", f"/20160918/instances/{instance_ocid(202)}")
    assert write.query == {"action": ["SOFTRESET"]}


def test_reboot_request_is_signed_with_the_configured_api_key(oci_api: OciApi) -> None:  # noqa: F811
    worker = RebootWorker(oci_api.clients(), _instances())
    worker.apply(worker.plan(_request("reboot_worker")))
    [write] = oci_api.writes()
    assert write.headers["authorization"].startswith("Signature ")
    assert f'keyId="{TENANCY}/' in write.headers["authorization"]
    assert write.headers["opc-retry-token"]


def test_reboot_plan_records_the_instance_state_before(oci_api: OciApi) -> None:  # noqa: F811
    plan = RebootWorker(oci_api.clients(), _instances()).plan(_request("reboot_worker"))
    assert plan.previous == {
        "instance_id": instance_ocid(202),
        "lifecycle_state": "RUNNING",
        "display_name": "oke-worker-202",
    }
    assert plan.diff == (Change("instance state", "RUNNING", "soft reset"),)
    assert oci_api.writes() == []


def test_reboot_through_the_runner_is_recorded_without_inverse(rig: Responder) -> None:
    run = _run(rig, _request("reboot_worker"))
    assert run.executed is not None
    assert run.executed.result == "succeeded"
    assert run.executed.previous is not None
    assert run.executed.previous["lifecycle_state"] == "RUNNING"
    assert run.executed.inverse is None


# replace


def test_replace_deletes_the_node_from_its_pool_keeping_the_pool_size(
    oci_api: OciApi,  # noqa: F811
) -> None:
    worker = ReplaceWorker(oci_api.clients(), _instances())
    plan = worker.plan(_request("replace_worker"))
    assert plan.previous["node_pool_id"] == POOL
    assert plan.previous["node_pool_size"] == 2
    assert plan.diff == (
        Change(
            f"instance of node {NODE}",
            short(instance_ocid(202)),
            f"replaced from node pool {plan.previous['node_pool_name']}",
        ),
    )
    assert oci_api.writes() == []
    outcome = worker.apply(plan)
    assert outcome.result == "succeeded", outcome.detail
    assert "ocid1.workrequest" in outcome.detail
    [write] = oci_api.writes()
    assert write.method == "DELETE"
    assert write.path == f"/20180222/nodePools/{POOL}/node/{instance_ocid(202)}"
    assert write.query == {"isDecrementSize": ["false"]}


def test_replace_finds_the_pool_among_the_clusters_pools(oci_api: OciApi) -> None:  # noqa: F811
    ReplaceWorker(oci_api.clients(), _instances()).plan(_request("replace_worker"))
    [listing] = oci_api.stub.seen("GET", r"/20180222/nodePools")
    assert listing.query["clusterId"] == ["ocid1.cluster.oc1.iad.aaaaaaaacluster"]


def test_replace_with_a_node_pool_parameter_skips_the_lookup(oci_api: OciApi) -> None:  # noqa: F811
    worker = ReplaceWorker(oci_api.clients(), _instances())
    worker.plan(_request("replace_worker", node_pool_id=POOL))
    assert oci_api.stub.seen("GET", r"/20180222/nodePools") == []


# failures


def test_node_without_an_oci_provider_id_fails_at_plan(rig: Responder, oci_api: OciApi) -> None:  # noqa: F811
    run = _run(rig, _request("reboot_worker", node="10.9.9.9"))
    assert run.executed is not None and run.executed.result == "failed"
    assert "no OCI instance known for node 10.9.9.9" in run.executed.detail
    assert oci_api.writes() == []


def test_oci_answering_500_fails_cleanly_once_without_retries(
    rig: Responder,
    oci_api: OciApi,  # noqa: F811
) -> None:
    oci_api.stub.fail("POST", SOFTRESET, Answer(500, {"code": "InternalError", "message": "x"}))
    run = _run(rig, _request("reboot_worker"))
    assert run.executed is not None and run.executed.result == "failed"
    assert "OCI answered 500 InternalError" in run.executed.detail
    assert len(oci_api.writes()) == 1
    failed = rig.runtime.metrics.registry.get_sample_value(
        "ops_auto_remediations_failed_total",
        {"incident_type": "node_disk_pressure", "action": "reboot_worker", "environment": "demo"},
    )
    assert failed == 1


def test_oci_that_hangs_fails_at_the_runners_deadline(rig: Responder, oci_api: OciApi) -> None:  # noqa: F811
    oci_api.stub.fail("POST", SOFTRESET, "hang")
    started = time.monotonic()
    run = _run(rig, _request("reboot_worker"))
    assert time.monotonic() - started < 4
    assert run.executed is not None and run.executed.result == "failed"
    assert "timed out after 1s" in run.executed.detail


# two replicas


def test_two_runtimes_on_one_redis_reboot_the_node_once(
    oci_api: OciApi,  # noqa: F811
    redis_url: str,
) -> None:
    with shared_redis(redis_url) as stores:
        replicas = [oci_rig(oci_api, store) for store in stores]
        runs = at_once(*(partial(_run, r, _request("reboot_worker")) for r in replicas))
        assert len(oci_api.stub.seen("POST", SOFTRESET)) == 1
        results = sorted(r.outcome.result for r in runs)
        assert results == ["skipped", "succeeded"]
