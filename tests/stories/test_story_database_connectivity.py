"""database_connectivity_degraded end to end against the machine's real
PostgreSQL: the orders app's ConfigMap names a primary database that no
longer exists (the probe's ``SELECT 1`` is refused: a direct error), and
the operator configured a standby (settings ``remedies.database``). The
ladder's first step asks to switch to the standby; a person approves; kmock
shows one merge patch of the ConfigMap key and nothing else; the recorded
inverse (``patch_config`` of the previous value) puts the primary back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.kube import (
    KubeCluster,
    configmap,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
)
from fixtures.postgres import HOST, PORT, ScratchDatabase, require_postgres, scratch_database
from stories.approving import approve, approved_run, approvers, listed, since, undo
from stories.storyline import Story

from responder.evidence.hypothesis import hypothesis
from responder.records.lifecycle import IncidentState

PRIMARY = f"postgresql://postgres@{HOST}:{PORT}/orders_primary_gone"
UNREACHABLE = {
    "alertname": "OrdersDatabaseUnreachable",
    "taxonomy_type": "database_connectivity_degraded",
    "domain": "golden_signals",
    "namespace": "shop",
    "deployment": "orders",
    "severity": "critical",
}
CONFIG = "configmap/shop/orders-db"
CONFIG_PATH = "/api/v1/namespaces/shop/configmaps/orders-db"


@pytest.fixture
def standby() -> Iterator[ScratchDatabase]:
    require_postgres()
    with scratch_database(prefix="orders_standby") as database:
        yield database


def test_a_vanished_primary_is_switched_to_the_standby_on_approval_and_back_by_its_inverse(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    standby: ScratchDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    standby_url = standby.url()
    kube_cluster.add(
        deployment("orders", "shop"),
        configmap("orders-db", "shop", {"DATABASE_URL": PRIMARY, "POOL_SIZE": "10"}),
    )
    remedies = {
        "database": {
            "configmap": "shop/orders-db",
            "key": "DATABASE_URL",
            "primary": PRIMARY,
            "standby": standby_url,
        }
    }
    probe = {"name": "orders-db", "kind": "postgres", "url": PRIMARY, "workloads": ["orders*"]}
    with Story(
        kube_cluster,
        tmp_path,
        environment="production",
        dependencies=[probe],
        remedies=remedies,
        approvers=approvers(monkeypatch, "production"),
    ) as story:
        story.fire(UNREACHABLE)

        incident = story.incident()
        assert incident.incident_type == "database_connectivity_degraded"
        assert incident.resource_scope.key == "deployment/shop/orders"
        assert incident.confidence == "high"
        [signal] = [s for s in incident.signals if s.source == "probes:orders-db"]
        assert (signal.name, signal.direct) == ("orders-db:database_missing", True)
        assert 'database "orders_primary_gone" does not exist' in signal.detail
        assert (hypothesis(incident) or "").startswith("the configured database is gone")
        # the first step (ask_retarget) asks for the switch; patch_config has no
        # ConfigMap key and value from the evidence, and no recovery job is configured
        assert story.asked() == {("switch_db_target", CONFIG)}
        assert story.decided("patch_config") == {"recommend"}
        assert story.decisions()[("run_recovery_job", "-")] == "recommend"  # none configured
        assert story.decided("restore_data") == {"human_only"}
        assert story.writes() == []

        # the request shows the exact change and its undo
        asked = listed(story, "switch_db_target")
        assert asked["target"] == {"kind": "configmap", "namespace": "shop", "name": "orders-db"}
        assert asked["params"] == {}
        assert asked["change"] == [
            {"what": "data.DATABASE_URL", "before": PRIMARY, "after": standby_url}
        ]
        assert asked["undo"] == (
            f"patch configuration configmap shop/orders-db (key=DATABASE_URL, value={PRIMARY})"
        )
        assert "the configured database is gone" in asked["why_now"]

        # a person approves: one merge patch of the one key, nothing else
        mark = len(story.writes())
        answer = approve(story, asked["id"])
        assert answer["result"] == "executed", answer["detail"]
        assert since(story, mark) == [
            ("PATCH", CONFIG_PATH, {"data": {"DATABASE_URL": standby_url}})
        ]
        data = kube_cluster.live("ConfigMap", "orders-db", "shop")["data"]
        assert data == {"DATABASE_URL": standby_url, "POOL_SIZE": "10"}
        done = approved_run(story, "switch_db_target")
        assert (done.result, done.actor) == ("succeeded", "alice")
        assert story.incident().state == IncidentState.contained

        # the recorded inverse, approved and run: the primary is named again
        mark = len(story.writes())
        run = undo(story, done, "the primary is back; point orders at it again")
        assert run.executed is not None and run.executed.result == "succeeded", run.outcome
        assert since(story, mark) == [("PATCH", CONFIG_PATH, {"data": {"DATABASE_URL": PRIMARY}})]
        data = kube_cluster.live("ConfigMap", "orders-db", "shop")["data"]
        assert data == {"DATABASE_URL": PRIMARY, "POOL_SIZE": "10"}
        story.assert_guard_rails(approved=frozenset({"switch_db_target", "patch_config"}))
