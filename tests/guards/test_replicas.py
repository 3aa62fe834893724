"""The guard rails stay exact with two replicas on one Redis: two node
incidents that arrive at the same moment, one at each replica, are counted
together by the blast radius (the runner holds the environment's nodes lock
over a node incident's turn), so the breach is seen once, one storm pages, and
no node action is asked beyond the limit."""

from __future__ import annotations

from functools import partial

import pytest
from fixtures.alerts import disk
from fixtures.executors import HttpExecutor
from fixtures.http_stub import StubServer
from fixtures.rigs import Responder, at_once, shared_redis

from responder.store import IncidentFilter, Store

NODE = frozenset({"cordon_node", "drain_node", "reboot_worker", "replace_worker"})
NODES = ("10.0.10.201", "10.0.10.202")


def replica(executor_stub: StubServer, store: Store) -> Responder:
    return Responder(
        store,
        executors=[HttpExecutor(executor_stub, NODE)],
        # the ladder asks at once, so a node action asked beyond the limit would show
        ladder_holds_asks=False,
        action_timeout_seconds=2.0,
    )


@pytest.mark.parametrize("attempt", range(6))
def test_two_replicas_count_each_others_unhealthy_node(
    executor_stub: StubServer, redis_url: str, attempt: int
) -> None:
    with shared_redis(redis_url) as stores:
        replicas = [replica(executor_stub, store) for store in stores]
        at_once(*(partial(r.fire, *disk(n)) for r, n in zip(replicas, NODES, strict=True)))
        store, approvals = replicas[0].store, replicas[0].runtime.approval_requests
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
