"""The guard rails stay exact with two replicas on one Redis: two node
incidents that arrive at the same moment, one at each replica, are counted
together by the blast radius (the runner holds the environment's nodes lock
over a node incident's turn), so the breach is seen once, one storm pages, and
no node action is asked beyond the limit."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from fixtures.executors import HttpExecutor
from fixtures.http_stub import StubServer
from fixtures.redis_namespace import drop_redis_namespace

from responder.app import build_runtime
from responder.records.alert import WebhookAlert, WebhookPayload
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import IncidentFilter, open_store

NODE = frozenset({"cordon_node", "drain_node", "reboot_worker", "replace_worker"})
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NODES = ("10.0.10.201", "10.0.10.202")


def disk(node: str) -> WebhookPayload:
    """The two alerts of a high-confidence disk-pressure incident on ``node``."""
    labels = [
        {"alertname": "KubeNodePressure", "condition": "DiskPressure", "node": node},
        {"alertname": "NodeFilesystemAlmostOutOfSpace", "instance": f"{node}:9100"},
    ]
    return WebhookPayload(
        version="4",
        status="firing",
        alerts=[
            WebhookAlert(
                status="firing",
                labels={**a, "nodename": node, "mountpoint": "/", "severity": "warning"},
            )
            for a in labels
        ],
    )


def replica(executor_stub: StubServer, redis_url: str, namespace: str) -> Runtime:
    return build_runtime(
        # the ladder asks at once, so a node action asked beyond the limit would show
        Settings(dry_run=False, ladder_holds_asks=False, action_timeout_seconds=2.0),
        store=open_store(redis_url, namespace=namespace),
        executors=[HttpExecutor(executor_stub, NODE)],
        clock=lambda: T0,
    )


@pytest.mark.parametrize("attempt", range(6))
def test_two_replicas_count_each_others_unhealthy_node(
    executor_stub: StubServer, redis_url: str, attempt: int
) -> None:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    replicas = [replica(executor_stub, redis_url, namespace) for _ in NODES]
    start = threading.Barrier(len(replicas))
    errors: list[BaseException] = []

    def fire(runtime: Runtime, node: str) -> None:
        start.wait()
        try:
            runtime.pipeline.process(disk(node))
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [
            threading.Thread(target=fire, args=(r, n)) for r, n in zip(replicas, NODES, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        store, approvals = replicas[0].store, replicas[0].approvals
        assert approvals is not None
        incidents = store.list_incidents(IncidentFilter())
        storms = [i for i in incidents if i.is_storm]
        members = {i.resource_scope.name: i for i in incidents if not i.is_storm}
        assert sorted(members) == sorted(NODES)
        # whichever came second saw the first: the breach, seen once
        [storm] = storms
        assert storm.labels["storm_nodes"] == ",".join(sorted(NODES))
        # a node action was asked for at most the node that was alone at first
        asked = [
            node
            for node, incident in members.items()
            if any(a.action in NODE for a in approvals.for_incident(incident.id))
        ]
        assert len(asked) <= 1, asked
        # and the node that breached the limit has its node actions refused
        refused = [
            node
            for node, incident in members.items()
            if any(
                r.action == "cordon_node" and r.decision == "off"
                for r in incident.recommended_actions
            )
        ]
        assert refused, "neither replica saw the breach"
    finally:
        for runtime in replicas:
            runtime.store.close()
        drop_redis_namespace(redis_url, namespace)
