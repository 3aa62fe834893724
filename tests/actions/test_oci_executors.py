"""OCI executors through the real ``oci`` SDK, pointed at a local server that
speaks the compute and container engine REST paths (``fixtures/oci_api.py``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fixtures.http_stub import Answer
from fixtures.oci_api import (  # noqa: F401  (oci_api, oci_key: fixtures)
    POOL,
    TENANCY,
    OciApi,
    instance_ocid,
    oci_api,
    oci_key,
)
from fixtures.redis_namespace import drop_redis_namespace

from responder.actions.oci_workers import RebootWorker, ReplaceWorker
from responder.app import build_runtime
from responder.oci_clients import ProviderIdInstances
from responder.records.action import ActionRequest, ActionRun
from responder.records.incident import Incident, ResourceScope
from responder.records.levels import Confidence, Environment, Severity
from responder.records.target import Target
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import open_store

NODE = "10.0.10.202"
PROVIDER_IDS = {NODE: f"oci://{instance_ocid(202)}", "10.0.10.201": f"oci://{instance_ocid(201)}"}
SOFTRESET = r"/20160918/instances/[^/]+"


def _instances() -> ProviderIdInstances:
    return ProviderIdInstances(read_provider_id=PROVIDER_IDS.get)


def _request(action: str, node: str = NODE, **params: object) -> ActionRequest:
    return ActionRequest(action, Target(kind="node", name=node), "inc-oci", dict(params))


def _incident() -> Incident:
    return Incident(
        id="inc-oci",
        incident_type="node_disk_pressure",
        domain="infrastructure",
        display_name="Node Disk Pressure",
        severity=Severity.critical,
        confidence=Confidence.high,
        environment=Environment.demo,
        correlation_key=f"node_disk_pressure|node//{NODE}",
        resource_scope=ResourceScope(kind="node", name=NODE),
        created_at=datetime.now(UTC),
    )


def _runtime(api: OciApi, store_url: str, namespace: str, **settings: object) -> Runtime:
    values: dict[str, object] = {"dry_run": False, "action_timeout_seconds": 1.0}
    values.update(settings)
    clients = api.clients()
    return build_runtime(
        Settings.model_validate(values),
        store=open_store(store_url, namespace),
        executors=[RebootWorker(clients, _instances()), ReplaceWorker(clients, _instances())],
    )


@pytest.fixture
def runtime(oci_api: OciApi, tmp_path: object) -> Iterator[Runtime]:  # noqa: F811
    built = _runtime(oci_api, f"sqlite:///{tmp_path}/state.db", "robot-sre")
    try:
        yield built
    finally:
        built.store.close()


def _run(runtime: Runtime, request: ActionRequest, decision: str = "auto") -> ActionRun:
    return runtime.runner.run(_incident(), request, decision)


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
    assert oci_api.writes() == []


def test_reboot_through_the_runner_is_recorded_without_inverse(runtime: Runtime) -> None:
    run = _run(runtime, _request("reboot_worker"))
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


def test_node_without_an_oci_provider_id_fails_at_plan(runtime: Runtime, oci_api: OciApi) -> None:  # noqa: F811
    run = _run(runtime, _request("reboot_worker", node="10.9.9.9"))
    assert run.executed is not None and run.executed.result == "failed"
    assert "no OCI instance known for node 10.9.9.9" in run.executed.detail
    assert oci_api.writes() == []


def test_oci_answering_500_fails_cleanly_once_without_retries(
    runtime: Runtime,
    oci_api: OciApi,  # noqa: F811
) -> None:
    oci_api.stub.fail("POST", SOFTRESET, Answer(500, {"code": "InternalError", "message": "x"}))
    run = _run(runtime, _request("reboot_worker"))
    assert run.executed is not None and run.executed.result == "failed"
    assert "OCI answered 500 InternalError" in run.executed.detail
    assert len(oci_api.writes()) == 1
    failed = runtime.metrics.registry.get_sample_value(
        "ops_auto_remediations_failed_total",
        {"incident_type": "node_disk_pressure", "action": "reboot_worker", "environment": "demo"},
    )
    assert failed == 1


def test_oci_that_hangs_fails_at_the_runners_deadline(runtime: Runtime, oci_api: OciApi) -> None:  # noqa: F811
    oci_api.stub.fail("POST", SOFTRESET, "hang")
    started = time.monotonic()
    run = _run(runtime, _request("reboot_worker"))
    assert time.monotonic() - started < 4
    assert run.executed is not None and run.executed.result == "failed"
    assert "timed out after 1s" in run.executed.detail


# two replicas


def test_two_runtimes_on_one_redis_reboot_the_node_once(
    oci_api: OciApi,  # noqa: F811
    redis_url: str,
) -> None:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    runtimes = [_runtime(oci_api, redis_url, namespace) for _ in range(2)]
    start = threading.Barrier(len(runtimes))
    runs: list[ActionRun] = []

    def replica(runtime: Runtime) -> None:
        start.wait()
        runs.append(_run(runtime, _request("reboot_worker")))

    try:
        threads = [threading.Thread(target=replica, args=(r,)) for r in runtimes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert len(oci_api.stub.seen("POST", SOFTRESET)) == 1
        results = sorted(r.outcome.result for r in runs)
        assert results == ["skipped", "succeeded"]
    finally:
        for runtime in runtimes:
            runtime.store.close()
        drop_redis_namespace(redis_url, namespace)
