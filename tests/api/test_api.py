"""The HTTP API over a running app (worker included): incidents, taxonomy,
operations endpoints and the OpenAPI document."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.rigs import STORM
from starlette.testclient import TestClient

from responder.app import create_app
from responder.settings import Settings

OPS_METRICS = (
    "ops_incidents_open_total",
    "ops_incidents_resolved_total",
    "ops_incidents_by_type",
    "ops_auto_remediations_total",
    "ops_auto_remediations_failed_total",
    "ops_approvals_requested_total",
    "ops_approvals_granted_total",
    "ops_approvals_denied_total",
    "ops_policy_suppressions_total",
    "ops_chat_delivery_failures_total",
)


def _wait_for(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module, fed the whole example storm before any test."""
    db = tmp_path_factory.mktemp("api") / "s.db"
    app = create_app(Settings(store_url=f"sqlite:///{db}"))
    with TestClient(app) as client:
        for path in STORM:
            response = client.post("/webhooks/alertmanager", content=path.read_bytes())
            assert response.status_code == 200, (path.name, response.text)
        runtime = app.state.runtime
        _wait_for(
            lambda: (
                runtime.store.queue_depth() == 0
                and runtime.metrics.registry.get_sample_value("ops_queue_depth") == 0
            ),
            "the storm to be processed",
        )
        yield client


@pytest.fixture(scope="module")
def incidents(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/incidents")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return list(body["incidents"])


def test_storm_examples_are_all_present() -> None:
    assert [p.name for p in STORM] == [
        "01-disk-pressure.json",
        "02-image-pull.json",
        "03-duplicate.json",
        "04-unclassified.json",
        "05-resolve.json",
    ]


def test_storm_opens_one_incident_per_problem(incidents: list[dict[str, Any]]) -> None:
    found = sorted((i["incident_type"], i["resource_scope"]["name"]) for i in incidents)
    assert found == [
        ("node_disk_pressure", "10.0.10.201"),
        ("node_disk_pressure", "10.0.10.202"),
        ("node_disk_pressure", "cluster"),  # the node storm (two nodes, the limit is one)
        ("registry_pull_failure", "backend"),
        ("unclassified", "cluster"),
    ]


def test_incidents_are_listed_newest_first(incidents: list[dict[str, Any]]) -> None:
    created = [i["created_at"] for i in incidents]
    assert created == sorted(created, reverse=True)
    assert incidents[0]["incident_type"] == "unclassified"
    assert {i["incident_type"] for i in incidents[-2:]} == {"node_disk_pressure"}


def test_list_answer_carries_count_limit_and_offset(client: TestClient) -> None:
    body = client.get("/api/v1/incidents").json()
    assert (body["count"], body["limit"], body["offset"]) == (5, 100, 0)


def test_storm_duplicate_is_suppressed_and_resolve_moves_to_recovering(
    incidents: list[dict[str, Any]],
) -> None:
    by_node = {
        i["resource_scope"]["name"]: i
        for i in incidents
        if i["incident_type"] == "node_disk_pressure" and i["resource_scope"]["kind"] == "node"
    }
    first = by_node["10.0.10.201"]
    assert first["duplicates_suppressed"] == 1
    assert first["state"] == "recovering"
    # both nodes were in pressure when 10.0.10.202 was decided: its node actions
    # are refused beyond the blast radius (one node), and the node storm is one
    # cluster-level incident escalated to a person
    [storm] = [
        i
        for i in incidents
        if i["resource_scope"]["kind"] == "cluster" and i["incident_type"] == "node_disk_pressure"
    ]
    assert storm["state"] == "escalated"
    assert any(
        e["event"] == "state:escalated" and "blast-radius limit is 1" in e["detail"]
        for e in storm["timeline"]
    )
    assert any(
        e["event"] == "node_storm" and storm["id"] in e["detail"]
        for e in by_node["10.0.10.202"]["timeline"]
    )
    assert by_node["10.0.10.202"]["confidence"] == "high"
    # the nodes climb their escalation ladders; the storm, a person's from its start, has none
    assert storm["ladder"] is None
    assert by_node["10.0.10.202"]["ladder"]["step_id"] == "contain"


def test_state_filter_selects_matching_incidents(client: TestClient) -> None:
    body = client.get("/api/v1/incidents", params={"state": "recovering"}).json()
    assert [i["resource_scope"]["name"] for i in body["incidents"]] == ["10.0.10.201"]


def test_type_filter_selects_matching_incidents(client: TestClient) -> None:
    body = client.get("/api/v1/incidents", params={"type": "node_disk_pressure"}).json()
    assert body["count"] == 3  # two nodes and their node storm
    assert {i["incident_type"] for i in body["incidents"]} == {"node_disk_pressure"}


def test_environment_filter_selects_matching_incidents(client: TestClient) -> None:
    demo = client.get("/api/v1/incidents", params={"environment": "demo"}).json()
    production = client.get("/api/v1/incidents", params={"environment": "production"}).json()
    assert (demo["count"], production["count"]) == (5, 0)


def test_limit_and_offset_page_through_the_list(
    client: TestClient, incidents: list[dict[str, Any]]
) -> None:
    page = client.get("/api/v1/incidents", params={"limit": 2, "offset": 1}).json()
    assert [i["id"] for i in page["incidents"]] == [i["id"] for i in incidents[1:3]]


def test_unknown_state_is_a_400_naming_the_field(client: TestClient) -> None:
    response = client.get("/api/v1/incidents", params={"state": "on_fire"})
    assert response.status_code == 400
    assert response.json()["field"] == "state"
    assert "on_fire" in response.json()["error"]


def test_unknown_environment_is_a_400_naming_the_field(client: TestClient) -> None:
    response = client.get("/api/v1/incidents", params={"environment": "prod"})
    assert response.status_code == 400
    assert response.json()["field"] == "environment"


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten"])
def test_limit_out_of_range_is_a_400_naming_the_field(client: TestClient, limit: str) -> None:
    response = client.get("/api/v1/incidents", params={"limit": limit})
    assert response.status_code == 400
    assert response.json()["field"] == "limit"


def test_bad_offset_is_a_400_naming_the_field(client: TestClient) -> None:
    response = client.get("/api/v1/incidents", params={"offset": "-5"})
    assert response.status_code == 400
    assert response.json()["field"] == "offset"


def test_get_incident_returns_its_record(
    client: TestClient, incidents: list[dict[str, Any]]
) -> None:
    wanted = incidents[0]
    response = client.get(f"/api/v1/incidents/{wanted['id']}")
    assert response.status_code == 200
    assert response.json() == wanted


def test_get_unknown_incident_is_a_404(client: TestClient) -> None:
    response = client.get("/api/v1/incidents/does-not-exist")
    assert response.status_code == 404
    assert "does-not-exist" in response.json()["error"]


def test_taxonomy_lists_domains_types_and_matrix(client: TestClient) -> None:
    response = client.get("/api/v1/taxonomy")
    assert response.status_code == 200
    body = response.json()
    assert len(body["domains"]) == 8
    assert len(body["incident_types"]) == 11
    types = {t["id"] for t in body["incident_types"]}
    assert {row["incident_type"] for row in body["policy_matrix"]} == types
    assert len(body["policy_matrix"]) == 11


def test_policy_matrix_rows_have_every_column(client: TestClient) -> None:
    for row in client.get("/api/v1/taxonomy").json()["policy_matrix"]:
        assert set(row) == {
            "incident_type",
            "auto_observe",
            "auto_notify",
            "auto_contain",
            "approval_required",
            "human_only",
        }
        assert row["auto_observe"] is True
        assert row["auto_notify"] is True


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ready_when_the_store_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_metrics_expose_every_ops_metric_of_the_spec(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    help_lines = {
        line.split()[2] for line in response.text.splitlines() if line.startswith("# HELP ")
    }
    missing = [name for name in OPS_METRICS if name not in help_lines]
    assert not missing


def test_metrics_expose_webhook_duration_and_queue_depth(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert "# HELP ops_webhook_duration_seconds " in text
    assert "ops_webhook_duration_seconds_count 5.0" in text
    assert "# HELP ops_queue_depth " in text
    assert "ops_queue_depth 0.0" in text


def test_metrics_count_the_storm(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert (
        'ops_policy_suppressions_total{environment="demo",incident_type="node_disk_pressure",'
        'reason="duplicate_alert"} 1.0'
    ) in text
    assert (
        'ops_incidents_open_total{environment="demo",incident_type="node_disk_pressure",'
        'severity="critical"} 2.0'  # 10.0.10.202 and the node storm
    ) in text


def test_openapi_document_is_openapi_3_1_with_the_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert set(document["paths"]) >= {
        "/webhooks/alertmanager",
        "/api/v1/incidents",
        "/api/v1/incidents/{incident_id}",
        "/api/v1/taxonomy",
        "/healthz",
        "/readyz",
        "/metrics",
    }


def test_openapi_references_resolve(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    refs = {
        ref.removeprefix("#/components/schemas/")
        for ref in _refs(document)
        if ref.startswith("#/components/schemas/")
    }
    assert {"Incident", "WebhookPayload", "Error"} <= set(schemas)
    assert refs <= set(schemas), refs - set(schemas)
    assert all(ref.startswith("#/components/schemas/") for ref in _refs(document))
    json.dumps(document)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
